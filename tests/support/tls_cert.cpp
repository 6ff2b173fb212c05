#include "tests/support/tls_cert.hpp"

#include <cstdlib>
#include <stdexcept>

namespace maxsess::test {

tls_cert::tls_cert(const std::string& subject_alt_name) : folder("maxsess-tls") {
  cert = folder.dir() + "/cert.pem";
  key = folder.dir() + "/key.pem";
  const std::string out = folder.dir() + "/openssl.out";
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=maxsess-test"
                          " -addext 'subjectAltName=" + subject_alt_name + "'"
                          " -keyout '" + key + "' -out '" + cert + "' > '" + out + "' 2>&1";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("openssl could not make a test certificate: " + read_file(out));
}

bool openssl_available() {
  static const bool yes = std::system("openssl version > /dev/null 2>&1") == 0;
  return yes;
}

}  // namespace maxsess::test
