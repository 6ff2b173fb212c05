# write_if_changed(PATH CONTENT): writes CONTENT to PATH only when it differs
# from what PATH holds, so a generator that re-runs at every build (the
# embedded SQL, the status page, the build version) does not force a
# recompile of what includes its output. For scripts run with cmake -P:
#   include(${CMAKE_CURRENT_LIST_DIR}/../cmake/write_if_changed.cmake)
function(write_if_changed path content)
  if(EXISTS "${path}")
    file(READ "${path}" old)
    if(old STREQUAL content)
      return()
    endif()
  endif()
  file(WRITE "${path}" "${content}")
endfunction()
