# `cmake --install BUILD [--component dev]`: the public headers, libhexz (static) with the
# BLAKE3 objects it needs, a CMake package (find_package(hexz CONFIG) -> hexz::hexz) and a
# pkg-config file hexz.pc. libhexz is static, so its private dependencies (lz4, zstd, xxhash,
# argon2, OpenSSL libcrypto, libcurl, libnbd) travel with it: hexzConfig.cmake finds them
# again and hexz.pc requires them.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(HEXZ_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/hexz)
install(TARGETS hexz hexz_blake3 EXPORT hexzTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/hexz DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dev FILES_MATCHING PATTERN "*.hpp")
install(EXPORT hexzTargets NAMESPACE hexz:: DESTINATION ${HEXZ_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/hexzConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/hexzConfig.cmake
                              INSTALL_DESTINATION ${HEXZ_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hexzConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/hexzConfig.cmake ${PROJECT_BINARY_DIR}/hexzConfigVersion.cmake
        DESTINATION ${HEXZ_CMAKE_DIR} COMPONENT dev)
# hexz.pc names its prefix relative to its own directory, so an installed tree can be moved
# (or installed with --prefix elsewhere).
file(RELATIVE_PATH HEXZ_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
configure_file(${PROJECT_SOURCE_DIR}/cmake/hexz.pc.in ${PROJECT_BINARY_DIR}/hexz.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/hexz.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT dev)
