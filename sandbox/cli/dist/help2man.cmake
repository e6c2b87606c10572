# Writes one section-1 man page from gaol's own --help, so the page cannot drift from the CLI:
# the command's help, then each subcommand's options under its own heading, given to help2man
# through a small wrapper that prints that text for --help and gaol's for --version.
#   cmake -DGAOL=bin -DHELP2MAN=help2man -DCOMMAND="bench" -DSUBCOMMANDS=start,enforce
#         -DPAGE=gaol-bench -DVERSION=0.1.0 -DSUMMARY="..." -DINCLUDE=gaol-bench.h2m -DOUT=gaol-bench.1 -P help2man.cmake
cmake_minimum_required(VERSION 3.25)

function(help_of out)
  execute_process(COMMAND ${GAOL} ${ARGN} --help OUTPUT_VARIABLE text RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "help2man.cmake: `gaol ${ARGN} --help` failed (${rc})")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

separate_arguments(command_words UNIX_COMMAND "${COMMAND}")
help_of(text ${command_words})
string(REPLACE "," ";" subcommands "${SUBCOMMANDS}")
foreach(sub IN LISTS subcommands)
  help_of(sub_text ${command_words} ${sub})
  # CLI11's layout: the description, "Usage: ...", a blank line, "Options:", the options. The
  # heading (a line ending in a colon) becomes a subsection; --help is said once, above.
  string(REPLACE "\n" ";" lines "${sub_text}")
  list(GET lines 0 description)
  string(APPEND text "\ngaol ${COMMAND} ${sub}:\n  ${description}\n")
  list(SUBLIST lines 1 -1 lines)
  foreach(line IN LISTS lines)
    if(line MATCHES "^Usage:|^Options:$|^  -h,--help")
      continue()
    endif()
    string(APPEND text "${line}\n")
  endforeach()
endforeach()

get_filename_component(work "${OUT}" DIRECTORY)
set(help_file "${work}/${PAGE}.help")
set(wrapper "${work}/${PAGE}.help.sh")
file(WRITE "${help_file}" "${text}")
# For --version only the version: the revision and the build's features do not belong in a page.
file(WRITE "${wrapper}"
     "#!/bin/sh\ncase \"$1\" in --version) echo 'gaol ${VERSION}' ;; *) cat '${help_file}' ;; esac\n")
file(CHMOD "${wrapper}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)

execute_process(
  COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=1 --name=${SUMMARY}
          --include=${INCLUDE} --output=${OUT}.tmp ${wrapper}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man.cmake: help2man failed for ${PAGE} (${rc})")
endif()
# help2man names the page after the program (gaol); a subcommand's page is gaol-COMMAND.
file(READ "${OUT}.tmp" page)
string(TOUPPER "${PAGE}" title)
string(REGEX REPLACE "\n\\.TH GAOL " "\n.TH ${title} " page "${page}")
string(REGEX REPLACE "\n\\.SH NAME\ngaol \\\\- " "\n.SH NAME\n${PAGE} \\\\- " page "${page}")
# The wrapper's path must not leak into the page.
string(FIND "${page}" "${wrapper}" leaked)
if(NOT leaked EQUAL -1)
  message(FATAL_ERROR "help2man.cmake: the page names its wrapper ${wrapper}")
endif()
file(WRITE "${OUT}" "${page}")
file(REMOVE "${OUT}.tmp" "${help_file}" "${wrapper}")
