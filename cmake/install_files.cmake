# Run by `cmake --install` / CPack (cmake/packaging.cmake): installs the
# files that depend on the install prefix, known only now.
# In: CMAKE_INSTALL_PREFIX, MAXSESS_SOURCE_DIR, MAXSESS_STAGE_DIR,
# MAXSESS_DEB_VERSION, MAXSESS_DEB_DATE; DESTDIR
# from the environment (file(INSTALL) adds it to absolute destinations).
set(MAXSESS_BIN "${CMAKE_INSTALL_PREFIX}/bin/maxsessd")
set(MAXSESS_DOC_DIR "${CMAKE_INSTALL_PREFIX}/share/doc/maxsess")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(unit_dir /lib/systemd/system)  # Debian 12's place for packaged units
else()
  set(unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
configure_file(${MAXSESS_SOURCE_DIR}/packaging/maxsessd.service.in
               ${MAXSESS_STAGE_DIR}/maxsessd.service @ONLY)
configure_file(${MAXSESS_SOURCE_DIR}/packaging/cron.d.in
               ${MAXSESS_STAGE_DIR}/cron.d/maxsess @ONLY)
file(INSTALL ${MAXSESS_STAGE_DIR}/maxsessd.service DESTINATION ${unit_dir})

# Debian policy 12.5 and 12.7: the copyright file (uncompressed) and the
# changelog (gzip -9n: no name or time stamp, so the same bytes every build)
# in the package's doc folder.
configure_file(${MAXSESS_SOURCE_DIR}/packaging/debian/changelog.in
               ${MAXSESS_STAGE_DIR}/changelog.Debian @ONLY)
execute_process(COMMAND gzip -9n -c ${MAXSESS_STAGE_DIR}/changelog.Debian
                OUTPUT_FILE ${MAXSESS_STAGE_DIR}/changelog.Debian.gz RESULT_VARIABLE gzip_rc)
if(NOT gzip_rc EQUAL 0)
  message(FATAL_ERROR "gzip of the Debian changelog failed: ${gzip_rc}")
endif()
file(INSTALL ${MAXSESS_SOURCE_DIR}/packaging/debian/copyright ${MAXSESS_STAGE_DIR}/changelog.Debian.gz
     DESTINATION ${MAXSESS_DOC_DIR} PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# Operator-edited files: a package's are conffiles (dpkg keeps the local
# version); a plain `make install` must not overwrite them either.
foreach(pair "maxsess.yaml|/etc/maxsess|${MAXSESS_SOURCE_DIR}/packaging/maxsess.yaml"
             "maxsess|/etc/cron.d|${MAXSESS_STAGE_DIR}/cron.d/maxsess")
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 name)
  list(GET pair 1 dir)
  list(GET pair 2 src)
  if(EXISTS "$ENV{DESTDIR}${dir}/${name}")
    message(STATUS "Keeping: $ENV{DESTDIR}${dir}/${name} (exists; the new one is ${src})")
  else()
    file(INSTALL ${src} DESTINATION ${dir}
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
endforeach()
