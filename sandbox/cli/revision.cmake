# Run at build time (cmake -P): writes OUT, a header defining GAOL_REVISION, from the source
# tree's git revision, or REVISION when a packager passes one (-DGAOL_REVISION=...: a tarball has
# no .git). The file is rewritten only when the revision changed, so nothing rebuilds otherwise.
if(NOT REVISION STREQUAL "")
  set(rev "${REVISION}")
else()
  execute_process(COMMAND git -C "${SRC}" describe --always --dirty --abbrev=12
                  OUTPUT_VARIABLE rev OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR rev STREQUAL "")
    set(rev "unknown")
  endif()
endif()
set(text "#define GAOL_REVISION \"${rev}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
