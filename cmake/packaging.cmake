# `make package`: the .deb, built by CPack from the install rules (configure with
# -DCMAKE_INSTALL_PREFIX=/usr, as the Makefile does). CPack rather than a debian/
# folder and dpkg-buildpackage: CI has already built the tree once, and CPack
# packages that build (seconds) where debhelper would configure and build it again.
# What debhelper would add, this file does: stripped binaries, a DEP-5 copyright
# file, a compressed changelog, gzipped man pages, shlibdeps, maintainer scripts
# (packaging/post*, prerm) and a tmpfiles.d entry. `lintian` on the result is clean
# (tests/host/debian_test.cpp).

# Debian's documentation files.
install(FILES packaging/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
set(PLUGHOST_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/packaging/changelog.gz)
# A native package (version without a Debian revision): changelog.gz, gzip -n -9 (no name or time: reproducible).
add_custom_command(OUTPUT ${PLUGHOST_CHANGELOG_GZ}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging
    COMMAND gzip -n -9 -c ${CMAKE_CURRENT_SOURCE_DIR}/packaging/changelog > ${PLUGHOST_CHANGELOG_GZ}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/packaging/changelog
    VERBATIM)
add_custom_target(plughost_changelog ALL DEPENDS ${PLUGHOST_CHANGELOG_GZ})
install(FILES ${PLUGHOST_CHANGELOG_GZ} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# /run/plughost (owner plughost, 0755) at boot, at install and for a host started by hand.
install(FILES packaging/plughost.tmpfiles DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d RENAME plughost.conf)

# The systemd units: the service, and the optional (not enabled) socket-activation example.
install(FILES config/plughost.service config/plughost.socket DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME plughost)
set(CPACK_PACKAGE_VENDOR "plughost")
set(CPACK_PACKAGE_CONTACT "plughost maintainers <maintainers@plughost.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "host for TCP services written as shared-library plugins")
# CPack puts the summary first; this is the extended description below it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "plughostd serves TCP services whose protocol lives in a plugin: a shared
library built against a small C ABI (or the header-only C++ SDK on top of
it). Each service is declared in YAML with its plugin, its addresses, its
settings and its limits (connections, per-address and rate limits, ACLs,
idle and send timeouts), and the host validates the whole file before it
applies it, on start and on reload.
.
The package contains the daemon, plughostctl (status, plugins, reload and an
offline config check over the admin socket), the echo, confirm and chat
plugins, a systemd unit (Type=notify, watchdog, sandboxed, dropping to the
plughost system user), an optional socket unit, and the SDK headers and CMake
package for building plugins.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Libraries from dpkg-shlibdeps (as dh_shlibdeps would); adduser for the postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_STRIP_FILES ON)
# Control files 0644, maintainer scripts 0755, as dpkg-deb expects.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# The config is a conffile: upgrades keep the operator's edits, remove keeps it, purge removes it.
file(WRITE ${CMAKE_BINARY_DIR}/packaging/conffiles "/etc/plughost/plughost.yaml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/packaging/conffiles
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/prerm
    ${CMAKE_CURRENT_SOURCE_DIR}/packaging/postrm)
# After the staging install, before the .deb: every man page gzip -n -9, whoever installed it.
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/packaging-gzip-man.cmake)
include(CPack)
