# The layering of STYLE.md, checked when the build is configured. Each module of src/ has a
# layer; a module may link and include only modules of a lower layer (and itself). A violation
# stops the configuration with the module, the file and the include or link that breaks it, so
# `target_link_libraries` stays the architecture diagram.
#
#   0 common
#   1 kernels, store, connect,        bytes, SIMD, stream engines (Redis, NATS),
#     feature                         id maps
#   2 event, embed, retrieval, rank,  events and parsers, embedding tables, vector indexes,
#     experiment                      re-ranking, experiment assignment, statistics and
#                                     exploration (pure functions)
#   3 model                           the models
#   4 train, cluster                  learning schedules and the prequential (test-then-train) types;
#                                     the cluster on a stream engine (ids, ownership, rounds)
#   5 engine                          state, threads, log and snapshots, the read side
#   6 eval, serve                     replay and reports; the HTTP edge
set(LIVEREC_LAYERS
  common=0 kernels=1 store=1 connect=1 feature=1 event=2 embed=2 retrieval=2 rank=2 experiment=2 model=3 train=4
  cluster=4
  engine=5 eval=6 serve=6)

function(liverec_layer_of module out)
  set(${out} "" PARENT_SCOPE)
  foreach(pair IN LISTS LIVEREC_LAYERS)
    string(REPLACE "=" ";" kv "${pair}")
    list(GET kv 0 name)
    list(GET kv 1 layer)
    if(name STREQUAL module)
      set(${out} ${layer} PARENT_SCOPE)
    endif()
  endforeach()
endfunction()

# Fails the configuration when a module of src/ links or includes a module above it.
function(liverec_check_layers)
  set(errors "")
  foreach(pair IN LISTS LIVEREC_LAYERS)
    string(REPLACE "=" ";" kv "${pair}")
    list(GET kv 0 module)
    list(GET kv 1 layer)
    # Links: every liverec_<module>* library's direct dependencies.
    get_property(targets DIRECTORY ${PROJECT_SOURCE_DIR}/src/${module} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(target IN LISTS targets)
      get_target_property(type ${target} TYPE)
      if(NOT type MATCHES "LIBRARY")
        continue()
      endif()
      get_target_property(links ${target} LINK_LIBRARIES)
      foreach(link IN LISTS links)
        if(link MATCHES "^liverec_([a-z]+)")
          set(other ${CMAKE_MATCH_1})
          liverec_layer_of(${other} other_layer)
          if(other_layer STREQUAL "")
            list(APPEND errors "${target} links ${link}, which is in no layer")
          elseif(NOT other STREQUAL module AND NOT other_layer LESS layer)
            list(APPEND errors "${target} (layer ${layer}) links ${link} (layer ${other_layer})")
          endif()
        endif()
      endforeach()
    endforeach()
    # Includes: every file of the module, tests included.
    file(GLOB files ${PROJECT_SOURCE_DIR}/src/${module}/*.h ${PROJECT_SOURCE_DIR}/src/${module}/*.cc
         ${PROJECT_SOURCE_DIR}/src/${module}/*/*.h ${PROJECT_SOURCE_DIR}/src/${module}/*/*.cc)
    foreach(file IN LISTS files)
      file(STRINGS ${file} includes REGEX "^#include \"[a-z_]+/")
      foreach(line IN LISTS includes)
        string(REGEX MATCH "^#include \"([a-z_]+)/" _ "${line}")
        set(other ${CMAKE_MATCH_1})
        if(other STREQUAL "liverec" OR other STREQUAL module)
          continue()
        endif()
        liverec_layer_of(${other} other_layer)
        file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${file})
        if(other_layer STREQUAL "")
          list(APPEND errors "${rel}: ${line} names no module")
        elseif(NOT other_layer LESS layer)
          list(APPEND errors "${rel} (layer ${layer}): ${line} (layer ${other_layer})")
        endif()
      endforeach()
    endforeach()
  endforeach()
  if(errors)
    list(JOIN errors "\n  " text)
    message(FATAL_ERROR "layering (cmake/liverec_layers.cmake) broken:\n  ${text}")
  endif()
endfunction()
