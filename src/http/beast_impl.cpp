// The one translation unit that compiles Asio and Beast.
//
// The root CMakeLists gives every user of tally_net BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION: the headers then declare Asio's and Beast's non-template
// functions instead of defining them inline in every file that includes them, and this file
// supplies the definitions once. It keeps the build fast on two cores; it also means anything
// linking Asio or Beast in this project must link tally_http (which carries this object).

#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
