# parley_library(NAME DIR <src dir relative to src/> PUBLIC_HEADERS h... SOURCES cc...
#                DEPS targets... [EXTERNAL libs...])
#
# Every library gets an "include view": a folder under the build tree holding symlinks to its
# public headers only, at the path they are included by (e.g. "core/result.h"). A target sees the
# views of the targets it links, and nothing else of src/. So an include that points the wrong way
# across layers (core -> net, a module -> an adapter) or reaches into another target's private
# files does not compile.
set(PARLEY_VIEW_ROOT ${CMAKE_BINARY_DIR}/include_views)

function(parley_library name)
  cmake_parse_arguments(P "" "DIR" "PUBLIC_HEADERS;SOURCES;DEPS;EXTERNAL" ${ARGN})
  set(view ${PARLEY_VIEW_ROOT}/${name})
  file(REMOVE_RECURSE ${view})
  foreach(h ${P_PUBLIC_HEADERS})
    get_filename_component(sub ${P_DIR}/${h} DIRECTORY)
    file(MAKE_DIRECTORY ${view}/${sub})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${P_DIR}/${h} ${view}/${P_DIR}/${h} SYMBOLIC)
  endforeach()
  list(TRANSFORM P_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/src/${P_DIR}/)
  add_library(${name} STATIC ${P_SOURCES})
  target_include_directories(${name} PUBLIC ${view})
  target_link_libraries(${name} PUBLIC ${P_DEPS} ${P_EXTERNAL})
endfunction()

# parley_test(NAME SOURCES... DEPS... LABELS...): one GoogleTest binary registered with CTest.
function(parley_test name)
  cmake_parse_arguments(P "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${P_SOURCES})
  target_link_libraries(${name} PRIVATE ${P_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} PROPERTIES LABELS "${P_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
