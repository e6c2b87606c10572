# The Debian package, built by CPack: `cpack -G DEB` in a configured tree. ci/package builds and
# checks it; docs/PACKAGING.md says what it holds and why. Included at the end of the top-level
# CMakeLists.txt, once every install() rule is known.
#
# Besides what `cmake --install` lays out, the package gets, all generated into <build>/debian/:
# - share/doc/gaol/copyright (a plain `cmake --install` installs it too: harmless);
# - share/doc/gaol/changelog.Debian.gz (the package only: a CPACK_INSTALL_SCRIPTS script, which
#   runs in CPack's staging install alone);
# - postinst, prerm, postrm for the systemd units, in place of CPack's own (which call ldconfig
#   because a .so lies under usr/lib; lib/gaol is not on the linker's path);
# - a dh_strip-like pass (CPACK_PRE_BUILD_SCRIPTS) after CPack's strip.
# Build the package with -DCMAKE_INSTALL_PREFIX=/usr (ci/package does): files configured with the
# install prefix, such as gaol-serve.service's ExecStart, must name where the package puts gaol.

set(GAOL_DEB_DIR ${CMAKE_BINARY_DIR}/debian)
set(GAOL_DEB_MAINTAINER "gaol developers <gaol@localhost>")
set(GAOL_DEB_REVISION 1)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
if(NOT CMAKE_INSTALL_PREFIX STREQUAL CPACK_PACKAGING_INSTALL_PREFIX)
  message(STATUS "gaol: for `cpack -G DEB`, configure with "
                 "-DCMAKE_INSTALL_PREFIX=${CPACK_PACKAGING_INSTALL_PREFIX} (now ${CMAKE_INSTALL_PREFIX}):"
                 " files that name install paths would point elsewhere")
endif()

# The years of the commits, for the copyright notice (none outside git: a tarball names none).
execute_process(COMMAND git -C "${CMAKE_SOURCE_DIR}" log --format=%cd --date=format:%Y
                OUTPUT_VARIABLE _gaol_years OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                RESULT_VARIABLE _gaol_git_rc)
set(_gaol_copyright_years "")
if(_gaol_git_rc EQUAL 0 AND _gaol_years MATCHES "^[0-9]")
  string(REPLACE "\n" ";" _gaol_years "${_gaol_years}")
  list(SORT _gaol_years COMPARE NATURAL)
  list(GET _gaol_years 0 _gaol_first)
  list(GET _gaol_years -1 _gaol_last)
  set(_gaol_copyright_years "${_gaol_first} ")
  if(NOT _gaol_first STREQUAL _gaol_last)
    set(_gaol_copyright_years "${_gaol_first}-${_gaol_last} ")
  endif()
endif()

# share/doc/gaol/copyright, machine-readable (copyright-format 1.0). The source tree has no license
# file and none has been chosen: the License field says so rather than naming one.
file(CONFIGURE OUTPUT ${GAOL_DEB_DIR}/copyright CONTENT
"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: gaol
Upstream-Contact: ${GAOL_DEB_MAINTAINER}
Comment: Built with CPack from the gaol source tree (ci/package).

Files: *
Copyright: ${_gaol_copyright_years}the gaol developers
License: no-license-granted
 The gaol source tree carries no license file and its authors have not chosen
 a license yet. No license has been granted: all rights are reserved by the
 copyright holders until one is chosen. This file will name it then.
")
install(FILES ${GAOL_DEB_DIR}/copyright DESTINATION share/doc/gaol)

# share/doc/gaol/changelog.Debian.gz: one entry for this version, dated by the checked-out commit
# (or SOURCE_DATE_EPOCH, or now, outside git), compressed as dh_compress does (gzip -9n: no name,
# no timestamp, so the same tree gives the same bytes).
execute_process(COMMAND git -C "${CMAKE_SOURCE_DIR}" log -1 --format=%ct
                OUTPUT_VARIABLE _gaol_commit_time OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                RESULT_VARIABLE _gaol_git_rc)
if(NOT DEFINED ENV{SOURCE_DATE_EPOCH} AND _gaol_git_rc EQUAL 0
   AND _gaol_commit_time MATCHES "^[0-9]+$")
  set(ENV{SOURCE_DATE_EPOCH} "${_gaol_commit_time}")  # string(TIMESTAMP) honours it
  string(TIMESTAMP GAOL_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
  unset(ENV{SOURCE_DATE_EPOCH})
else()
  string(TIMESTAMP GAOL_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
endif()
file(CONFIGURE OUTPUT ${GAOL_DEB_DIR}/changelog.Debian CONTENT
"gaol (${PROJECT_VERSION}-${GAOL_DEB_REVISION}) unstable; urgency=medium

  * Package of gaol ${PROJECT_VERSION}, built by CPack from the source tree (ci/package).

 -- ${GAOL_DEB_MAINTAINER}  ${GAOL_DEB_DATE}
")
find_program(GAOL_GZIP gzip REQUIRED)
execute_process(COMMAND ${GAOL_GZIP} -9nc ${GAOL_DEB_DIR}/changelog.Debian
                OUTPUT_FILE ${GAOL_DEB_DIR}/changelog.Debian.gz COMMAND_ERROR_IS_FATAL ANY)
# CPack's DEB staging install runs with DESTDIR set (which file(INSTALL) prepends to an absolute
# destination) and the packaging prefix; CMAKE_INSTALL_PREFIX in an install script is the
# project's own, not necessarily the package's.
file(CONFIGURE OUTPUT ${GAOL_DEB_DIR}/package-doc.cmake @ONLY CONTENT [[
# Run by CPack in its staging install only (CPACK_INSTALL_SCRIPTS), never by `cmake --install`.
if(DEFINED ENV{DESTDIR})
  set(dest "@CPACK_PACKAGING_INSTALL_PREFIX@/share/doc/gaol")
else()
  set(dest "${CMAKE_INSTALL_PREFIX}/share/doc/gaol")
endif()
file(INSTALL "@GAOL_DEB_DIR@/changelog.Debian.gz" DESTINATION "${dest}"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
]])
set(CPACK_INSTALL_SCRIPTS ${GAOL_DEB_DIR}/package-doc.cmake)

# Stripped, as Debian policy 10.1 wants of shipped binaries: CPack's strip (CPACK_STRIP_FILES),
# then what dh_strip also removes (the .comment and .note sections), run on the staging tree
# before CPack computes md5sums and Depends.
set(CPACK_STRIP_FILES ON)
find_program(GAOL_OBJCOPY NAMES ${CMAKE_OBJCOPY} objcopy REQUIRED)
file(CONFIGURE OUTPUT ${GAOL_DEB_DIR}/package-strip.cmake @ONLY CONTENT [[
# Run by CPack on its staging tree before it builds the package (CPACK_PRE_BUILD_SCRIPTS).
file(GLOB_RECURSE files LIST_DIRECTORIES false "${CPACK_TEMPORARY_DIRECTORY}/*")
foreach(f IN LISTS files)
  if(IS_SYMLINK "${f}")
    continue()
  endif()
  file(READ "${f}" magic LIMIT 4 HEX)
  if(magic STREQUAL "7f454c46")
    execute_process(COMMAND "@GAOL_OBJCOPY@" --remove-section=.comment --remove-section=.note
                            "${f}" COMMAND_ERROR_IS_FATAL ANY)
  endif()
endforeach()
]])
set(CPACK_PRE_BUILD_SCRIPTS ${GAOL_DEB_DIR}/package-strip.cmake)

# Maintainer scripts, as dh_installsystemd writes them for units the package does not enable
# (gaol-serve.socket and .service: an admin enables them): systemd learns of the units on install
# and forgets them on removal; prerm stops them first.
file(CONFIGURE OUTPUT ${GAOL_DEB_DIR}/postinst @ONLY CONTENT [[#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
exit 0
]])
file(CONFIGURE OUTPUT ${GAOL_DEB_DIR}/prerm @ONLY CONTENT [[#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	deb-systemd-invoke stop gaol-serve.socket gaol-serve.service >/dev/null || true
fi
exit 0
]])
file(CONFIGURE OUTPUT ${GAOL_DEB_DIR}/postrm @ONLY CONTENT [[#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
# An admin's `systemctl enable` links go with the package's purge, as dh_installsystemd's do.
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
	deb-systemd-helper purge gaol-serve.socket gaol-serve.service >/dev/null || true
fi
exit 0
]])
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${GAOL_DEB_DIR}/postinst ${GAOL_DEB_DIR}/prerm ${GAOL_DEB_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)  # 0755 scripts, whatever the umask

set(CPACK_GENERATOR DEB)
set(CPACK_VERBATIM_VARIABLES ON)
set(CPACK_PACKAGE_NAME gaol)
set(CPACK_PACKAGE_VENDOR "gaol developers")
set(CPACK_PACKAGE_CONTACT "${GAOL_DEB_MAINTAINER}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# Directories CPack's staging install creates: 0755 whatever the umask.
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_DEBIAN_PACKAGE_NAME gaol)
# Version 0.1.0-1: upstream version and a Debian revision, so the changelog is changelog.Debian.gz.
set(CPACK_DEBIAN_PACKAGE_RELEASE ${GAOL_DEB_REVISION})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # gaol_0.1.0-1_amd64.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${GAOL_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# Depends: from the ELF files actually shipped (bin/gaol, lib/gaol/gaol-serve, lib/gaol/gaol-bench,
# lib/gaol/gaol-metrics.so), by dpkg-shlibdeps (dpkg-dev). liburing, libcap and libseccomp are
# linked statically everywhere, libstdc++ and libgcc into bin/gaol: they add nothing.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Recommends: what gaol runs or loads only when a feature asks for it, so dpkg-shlibdeps cannot see
# it and gaol works without it.
#   uidmap      /usr/bin/newuidmap and newgidmap, run for --map-users/--map-groups
#               (sandbox/launch/idmap.cc); `gaol check` reports them.
#   libsystemd0 libsystemd.so.0, dlopen'ed to ask systemd --user for a transient scope when the
#               caller has no delegated cgroup (sandbox/cgroup/systemd_scope.cc); without it gaol
#               falls back to rlimits.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "uidmap, libsystemd0")
# Suggests: the peers `gaol bench start` times gaol against, each row skipped when absent
# (bench/harness/start.cc; crun's rootless bundle is busybox, static).
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bubblewrap, crun, busybox-static")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "rootless sandbox for untrusted commands, with a usage report")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"gaol runs an untrusted command in a rootless sandbox and reports exactly
what it used. An unprivileged user calls \"gaol run\"; gaol gives the job
new user, pid, mount, network, IPC, UTS and cgroup namespaces and a fresh
read-only root, limits it in a cgroup v2 leaf (rlimits where no cgroup is
delegated), confines it with Landlock, no capabilities and a seccomp
profile, and prints a JSON account of the run: the verdict, exit status,
wall and CPU time, peak memory and how long each launch step took.

\"gaol serve\" offers the same through an HTTP JSON API for online judges
and grading systems, with a pool of prepared sandboxes, a queue and
Prometheus metrics. \"gaol bench\" measures start latency beside bwrap,
unshare and crun, and how exactly each limit is enforced.")

include(CPack)
