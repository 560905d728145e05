# liverec_test(NAME SOURCES... LIBS ... LABELS ...)
# Builds one GoogleTest binary and registers each test case with CTest, so `ctest` lists
# every case by name and can filter by label (unit, scenario, integration, connect, slow).
include(GoogleTest)
function(liverec_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${T_LABELS}"
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    DISCOVERY_TIMEOUT 60)
endfunction()
