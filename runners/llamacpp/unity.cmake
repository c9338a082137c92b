# Unity ("jumbo") build of llama-server's C++ support libraries, run by llama.cpp's top-level project()
# through CMAKE_PROJECT_INCLUDE (runner.yaml: local.cmake_include; also used by Containerfile.cpu).
#
# Why: compiling llama-server is the longest step of a first run on a small host (2 cores: ~10.5 min,
# 1,250 CPU-s). Most of that is the same headers (nlohmann/json, the chat and server types) parsed and
# their templates instantiated again in each of ~110 small files of common/, tools/mtmd and
# tools/server. Compiling them 8 files per unit does that work once per 8 (upstream does the same for
# src/models). The compute path (ggml, src/) is built exactly as upstream builds it; the flags and
# optimisation level are unchanged everywhere.
if(NOT PROJECT_NAME STREQUAL "llama.cpp")
  return()  # ggml's own project() call
endif()

function(_inferboard_unity_build)
  foreach(target llama-common mtmd server-context llama-server-impl)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  endforeach()
  # files that do not compile beside others: json.cpp specialises templates other files instantiate;
  # mtmd-helper*.cpp refuse (#error) a unit that includes mtmd's internal headers
  set_source_files_properties("${CMAKE_SOURCE_DIR}/common/json.cpp" TARGET_DIRECTORY llama-common
                              PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  set_source_files_properties("${CMAKE_SOURCE_DIR}/tools/mtmd/mtmd-helper.cpp"
                              "${CMAKE_SOURCE_DIR}/tools/mtmd/mtmd-helper-gen.cpp" TARGET_DIRECTORY mtmd
                              PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
endfunction()

# the targets exist only once the whole tree is configured
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _inferboard_unity_build)
