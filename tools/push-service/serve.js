#!/usr/bin/env node
// web-push-testing's push service on 127.0.0.1 only (its own CLI listens on every address):
// POST /subscribe {applicationServerKey} -> {data: {endpoint, keys, clientHash}}; the endpoint
// checks the VAPID JWT and decrypts the aes128gcm payload; POST /get-notifications
// {clientHash} -> {data: {messages: [decrypted text, ...]}}. Usage: node serve.js PORT
const express = require('express');
const listen = express.application.listen;
express.application.listen = function (port, cb) {
  return listen.call(this, port, '127.0.0.1', cb);
};
const TestingServer = require('web-push-testing/src/server.js');
const { PushApiModel } = require('web-push-testing/src/PushApiModel.js');
const port = Number(process.argv[2] || 8090);
new TestingServer(new PushApiModel(), port).startServer();
