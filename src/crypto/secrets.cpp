#include "crypto/secrets.hpp"

#include <openssl/crypto.h>
#include <sys/prctl.h>

namespace hexz::crypto {

void wipe(void* data, size_t size) {
  if (size != 0) OPENSSL_cleanse(data, size);
}

void wipe(std::string& secret) {
  // The whole buffer: a shorter earlier value may have left bytes past size().
  if (secret.capacity() != 0) wipe(secret.data(), secret.capacity());
  secret.clear();
}

void keep_out_of_core_dumps() {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace hexz::crypto
