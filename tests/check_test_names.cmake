# Fails if a Catch2 TEST_CASE name contains ';': catch_discover_tests splits
# such a name into two ctest entries that run nothing and pass.
file(GLOB_RECURSE sources "${SOURCE_DIR}/*.cpp")
foreach(f ${sources})
  file(STRINGS "${f}" lines REGEX "TEST_CASE\\(\"[^\"]*;")
  if(lines)
    message(FATAL_ERROR "${f}: a TEST_CASE name contains ';' (ctest would split it): ${lines}")
  endif()
endforeach()
