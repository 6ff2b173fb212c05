#pragma once
// A throwaway self-signed certificate for https tests (the `openssl` command,
// a Debian package that scripts/deps.sh installs), in its own temp folder.
#include <string>

#include "tests/support/child_process.hpp"

namespace maxsess::test {

struct tls_cert {
  // subject_alt_name: e.g. "IP:127.0.0.1". Throws std::runtime_error when
  // openssl fails (with its output).
  explicit tls_cert(const std::string& subject_alt_name);
  child_process folder;  // owns the folder (never spawned)
  std::string cert;      // PEM certificate (also usable as its own CA file)
  std::string key;       // PEM private key
};

// Whether the `openssl` command can be run; tests skip when it cannot.
bool openssl_available();

}  // namespace maxsess::test
