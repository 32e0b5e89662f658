# cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DSYMBOL=<name> -P EmbedText.cmake
# Writes a C++ source defining `extern const std::string_view <SYMBOL>` holding INPUT's bytes, so
# a document kept in the repository (the OpenAPI description) is part of the binary.
file(READ ${INPUT} content HEX)
string(LENGTH "${content}" hex_length)
math(EXPR byte_count "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${content}")
# 16 bytes a line keeps the generated file readable and the compiler's lines short.
string(REGEX REPLACE "(('[^']+',){16})" "\\1\n" bytes "${bytes}")
file(WRITE ${OUTPUT}.tmp
  "// Generated from ${INPUT} by cmake/EmbedText.cmake: do not edit.\n"
  "#include <string_view>\n"
  "namespace parley::api {\n"
  "namespace { constexpr char kBytes[] = {\n${bytes}'\\0'};\n}\n"
  "extern const std::string_view ${SYMBOL}(kBytes, ${byte_count});\n"
  "}  // namespace parley::api\n")
# Only a changed document rebuilds what depends on it.
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUTPUT}.tmp ${OUTPUT})
file(REMOVE ${OUTPUT}.tmp)
