# Builds the official BLAKE3 C implementation from Debian's librust-blake3-dev
# (/usr/share/cargo/registry/blake3-*/c). Nothing is copied into this repository.
# SIMD variants are compiled from the upstream assembly and chosen at run time by
# blake3_dispatch.c, so the binary stays portable.
file(GLOB HEXZ_BLAKE3_DIRS LIST_DIRECTORIES true "/usr/share/cargo/registry/blake3-*/c")
if(NOT HEXZ_BLAKE3_DIRS)
  message(FATAL_ERROR "BLAKE3 C sources not found: apt-get install librust-blake3-dev")
endif()
list(SORT HEXZ_BLAKE3_DIRS)
list(GET HEXZ_BLAKE3_DIRS -1 HEXZ_BLAKE3_DIR)
message(STATUS "BLAKE3 sources: ${HEXZ_BLAKE3_DIR}")

add_library(hexz_blake3 STATIC
  ${HEXZ_BLAKE3_DIR}/blake3.c
  ${HEXZ_BLAKE3_DIR}/blake3_dispatch.c
  ${HEXZ_BLAKE3_DIR}/blake3_portable.c)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  target_sources(hexz_blake3 PRIVATE
    ${HEXZ_BLAKE3_DIR}/blake3_sse2_x86-64_unix.S
    ${HEXZ_BLAKE3_DIR}/blake3_sse41_x86-64_unix.S
    ${HEXZ_BLAKE3_DIR}/blake3_avx2_x86-64_unix.S
    ${HEXZ_BLAKE3_DIR}/blake3_avx512_x86-64_unix.S)
else()
  target_compile_definitions(hexz_blake3 PRIVATE BLAKE3_NO_SSE2 BLAKE3_NO_SSE41 BLAKE3_NO_AVX2 BLAKE3_NO_AVX512)
endif()
target_include_directories(hexz_blake3 SYSTEM PUBLIC $<BUILD_INTERFACE:${HEXZ_BLAKE3_DIR}>)
set_target_properties(hexz_blake3 PROPERTIES C_VISIBILITY_PRESET hidden)
