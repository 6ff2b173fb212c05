# `make install` (cmake --install, PREFIX and DESTDIR honoured) and
# `make deb` (CPack's DEB generator), docs/install.md. Both install the same
# files; the package adds the maintainer scripts (packaging/debian/).
#
#   PREFIX/bin/maxsessd
#   /etc/maxsess/maxsess.yaml         the daemon's default --config path, so
#                                     always under /etc (make install keeps
#                                     an existing one)
#   /etc/cron.d/maxsess               the middleware's cron lines, commented out
#   UNITDIR/maxsessd.service          /lib/systemd/system for PREFIX /usr,
#                                     else PREFIX/lib/systemd/system
#   PREFIX/share/doc/maxsess/         README, docs, config/example.yaml,
#                                     copyright, changelog.Debian.gz
# cpack (make deb, the package test) installs what is built and builds
# nothing: otherwise its preinstall step would rebuild -- and relink
# maxsessd under -- integration tests running beside it. `make deb` and
# `make install` build first themselves.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
install(TARGETS maxsessd RUNTIME DESTINATION bin)
file(GLOB maxsess_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${maxsess_docs} DESTINATION share/doc/maxsess)
install(FILES config/example.yaml DESTINATION share/doc/maxsess/examples)
# The unit and the cron file name the binary by its installed path, which
# is known only at install time (cmake --install --prefix, CPack's /usr):
# cmake/install_files.cmake writes them then.
# The Debian changelog's entry is dated at configure time (SOURCE_DATE_EPOCH
# when set, for a reproducible package).
string(TIMESTAMP maxsess_deb_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
install(CODE "set(MAXSESS_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
set(MAXSESS_STAGE_DIR \"${PROJECT_BINARY_DIR}/packaging\")
set(MAXSESS_DEB_VERSION \"${PROJECT_VERSION}-1\")
set(MAXSESS_DEB_DATE \"${maxsess_deb_date}\")")
install(SCRIPT cmake/install_files.cmake)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME maxsess)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "maxsess maintainers <maxsess@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "concurrent playback session limiter for Flussonic")
set(CPACK_PACKAGE_DESCRIPTION "maxsessd limits how many streams an IPTV account plays at once.
It answers Flussonic's auth backend and the portal's link requests,
keeps sessions in PostgreSQL and runs as a cluster of nodes.")
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/deb)
# Absolute destinations (/etc, /lib/systemd) land in the package only when
# CPack installs through DESTDIR with the final prefix.
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)  # the prefix CPack installs with under CPACK_SET_DESTDIR
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)  # also in the changelog's version (above)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: the libraries maxsessd links (dpkg-shlibdeps, package dpkg-dev)
# and adduser for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cron")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
