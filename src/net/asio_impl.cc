// Asio and Beast compiled once for the whole program (BOOST_*_SEPARATE_COMPILATION), so other
// translation units only pay for declarations.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
