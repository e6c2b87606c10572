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
string(ASCII 2 semicolon)  # a stand-in: a semicolon in the text would split CMake's list
foreach(sub IN LISTS subcommands)
  help_of(sub_text ${command_words} ${sub})
  # CLI11's layout: the description, "Usage: ...", a blank line, "Positionals:" and their lines
  # when there are any, "Options:", the options. The subcommand's name becomes a subsection
  # heading (a line ending in a colon); its options get a heading only after positionals, whose
  # heading would otherwise cover them too; --help is said once, above.
  string(REPLACE ";" "${semicolon}" sub_text "${sub_text}")
  string(REPLACE "\n" ";" lines "${sub_text}")
  list(GET lines 0 description)
  string(APPEND text "\ngaol ${COMMAND} ${sub}:\n  ${description}\n")
  list(SUBLIST lines 1 -1 lines)
  set(after_positionals FALSE)
  foreach(line IN LISTS lines)
    if(line STREQUAL "Positionals:")
      set(after_positionals TRUE)
    endif()
    if(line MATCHES "^Usage:|^  -h,--help" OR (line STREQUAL "Options:" AND NOT after_positionals))
      continue()
    endif()
    if(line STREQUAL "Options:")
      set(line "Flags:")  # help2man takes "Options:" for the OPTIONS section it is already in
    endif()
    string(APPEND text "${line}\n")
  endforeach()
endforeach()
string(REPLACE "${semicolon}" ";" text "${text}")

get_filename_component(work "${OUT}" DIRECTORY)
set(help_file "${work}/${PAGE}.help")
set(wrapper "${work}/${PAGE}.help.sh")
file(WRITE "${help_file}" "${text}")
# For --version only the version: the revision and the build's features do not belong in a page.
file(WRITE "${wrapper}"
     "#!/bin/sh\ncase \"$1\" in --version) echo 'gaol ${VERSION}' ;; *) cat '${help_file}' ;; esac\n")
file(CHMOD "${wrapper}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)

# The page's date: the commit's (DATE_EPOCH, from git at configure time), or SOURCE_DATE_EPOCH
# as a packager sets it, never the day of the build, so that a tree gives the same pages.
set(date_env)
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  set(date_env SOURCE_DATE_EPOCH=$ENV{SOURCE_DATE_EPOCH})
elseif(DATE_EPOCH MATCHES "^[0-9]+$")
  set(date_env SOURCE_DATE_EPOCH=${DATE_EPOCH})
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env ${date_env} ${HELP2MAN} --no-info --no-discard-stderr --section=1 --name=${SUMMARY}
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
