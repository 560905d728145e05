# liverec_test(NAME SOURCES... LIBS ... LABELS ...)
# Builds one GoogleTest binary and registers each test case with CTest, so `ctest` lists
# every case by name and can filter by label (unit, scenario, integration, connect, slow).
# Each label also names a build target, tests_<label>, that builds the binaries of its tests
# (liverec_test_label_targets), so a build that runs some labels builds only what they need.
include(GoogleTest)
function(liverec_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  foreach(label IN LISTS T_LABELS)
    set_property(GLOBAL APPEND PROPERTY LIVEREC_TESTS_OF_${label} ${name})
    set_property(GLOBAL APPEND PROPERTY LIVEREC_TEST_LABELS ${label})
  endforeach()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${T_LABELS}"
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    DISCOVERY_TIMEOUT 60)
endfunction()

# After every liverec_test: the targets tests_<label> (tests_unit, tests_connect, ...).
function(liverec_test_label_targets)
  get_property(labels GLOBAL PROPERTY LIVEREC_TEST_LABELS)
  list(REMOVE_DUPLICATES labels)
  foreach(label IN LISTS labels)
    get_property(targets GLOBAL PROPERTY LIVEREC_TESTS_OF_${label})
    add_custom_target(tests_${label} DEPENDS ${targets})
  endforeach()
endfunction()
