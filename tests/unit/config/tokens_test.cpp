// security.*: several admin tokens, token files, streamer_calls, and that
// no problem message ever quotes a token.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"

namespace mc = maxsess::config;
namespace fs = std::filesystem;

namespace {

const std::string base_yaml =
    "storage:\n"
    "  dsn: \"host=127.0.0.1 dbname=maxsess\"\n"
    "security:\n"
    "  token_secret: \"k1:s3cret\"\n";

std::string dump(const mc::load_result& r) {
  std::string out;
  for (const auto& p : r.problems) out += "  " + mc::to_string(p) + "\n";
  return out;
}

const mc::problem* find_problem(const mc::load_result& r, const std::string& path) {
  auto it = std::find_if(r.problems.begin(), r.problems.end(),
                         [&](const mc::problem& p) { return p.path == path; });
  return it == r.problems.end() ? nullptr : &*it;
}

class TokenFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/maxsess-tokens-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  }
  mc::load_result load(const std::string& security_lines, const mc::environment& env = {}) {
    return mc::load_from_string(base_yaml + security_lines, env);
  }
  fs::path dir;
};

TEST_F(TokenFiles, DefaultsAreOneKeyEachAndOpenStreamerCalls) {
  const mc::security_section s;
  EXPECT_TRUE(s.admin_token.empty());
  EXPECT_TRUE(s.admin_token_file.empty());
  EXPECT_TRUE(s.client_tokens_file.empty());
  EXPECT_EQ(s.streamer_calls, "open");
}

TEST_F(TokenFiles, AdminTokenMayHoldSeveralCommaSeparated) {
  auto r = load("  admin_token: \"new-admin, old-admin\"\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  auto t = mc::read_bearer_tokens(r.config.security, nullptr);
  EXPECT_EQ(t.admin, (std::vector<std::string>{"new-admin", "old-admin"}));
  EXPECT_TRUE(t.client.empty());
}

TEST_F(TokenFiles, FilesAddToTheInlineTokensOnePerLine) {
  auto admin = write("admin", "# rotated 2026-11\nfile-admin-1\n\n  file-admin-2  \nnew-admin\n");
  auto client = write("client", "portal-a\r\nportal-b\n");
  auto r = load("  admin_token: new-admin\n  admin_token_file: " + admin +
                "\n  client_tokens: [portal-c]\n  client_tokens_file: " + client + "\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  std::vector<mc::problem> problems;
  auto t = mc::read_bearer_tokens(r.config.security, &problems);
  EXPECT_TRUE(problems.empty());
  // Inline first (the first admin token is what the job commands send),
  // duplicates dropped.
  EXPECT_EQ(t.admin, (std::vector<std::string>{"new-admin", "file-admin-1", "file-admin-2"}));
  EXPECT_EQ(t.client, (std::vector<std::string>{"portal-c", "portal-a", "portal-b"}));
}

TEST_F(TokenFiles, AdminTokenFileAloneSatisfiesTheRequirement) {
  auto admin = write("admin", "only-in-file\n");
  auto r = load("  admin_token_file: " + admin + "\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(mc::read_bearer_tokens(r.config.security, nullptr).admin,
            std::vector<std::string>{"only-in-file"});
  auto none = load("");
  const auto* p = find_problem(none, "security.admin_token");
  ASSERT_NE(p, nullptr) << dump(none);
  EXPECT_NE(p->message.find("admin_token_file"), std::string::npos) << p->message;
}

TEST_F(TokenFiles, EnvironmentNamesTheFiles) {
  auto admin = write("admin", "env-file-admin\n");
  auto client = write("client", "env-file-client\n");
  auto r = load("", {{"MAXSESS_ADMIN_TOKEN_FILE", admin}, {"MAXSESS_CLIENT_TOKENS_FILE", client}});
  ASSERT_TRUE(r.ok()) << dump(r);
  auto t = mc::read_bearer_tokens(r.config.security, nullptr);
  EXPECT_EQ(t.admin, std::vector<std::string>{"env-file-admin"});
  EXPECT_EQ(t.client, std::vector<std::string>{"env-file-client"});
  // The generic form works too, and several admin tokens in one variable.
  auto g = load("", {{"MAXSESS__SECURITY__ADMIN_TOKEN", "a1,a2"},
                     {"MAXSESS__SECURITY__CLIENT_TOKENS_FILE", client}});
  ASSERT_TRUE(g.ok()) << dump(g);
  EXPECT_EQ(mc::read_bearer_tokens(g.config.security, nullptr).admin,
            (std::vector<std::string>{"a1", "a2"}));
}

TEST_F(TokenFiles, RelativePathsInTheFileAreRelativeToTheFile) {
  write("admin", "rel-admin\n");
  std::ofstream(dir / "maxsess.yaml") << base_yaml << "  admin_token_file: admin\n";
  auto r = mc::load_from_file((dir / "maxsess.yaml").string(), {});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config.security.admin_token_file, (dir / "admin").string());
}

TEST_F(TokenFiles, BadFilesAreProblemsThatNeverQuoteAToken) {
  auto empty = write("empty", "# nothing yet\n\n");
  auto blanks = write("blanks", "good-token\nsecret with-blank\n");
  auto r = load("  admin_token: a\n  admin_token_file: " + (dir / "missing").string() +
                "\n  client_tokens_file: " + empty + "\n");
  EXPECT_FALSE(r.ok());
  const auto* missing = find_problem(r, "security.admin_token_file");
  ASSERT_NE(missing, nullptr) << dump(r);
  EXPECT_NE(missing->message.find("cannot read"), std::string::npos);
  // An emptied client file must not silently open the device API.
  const auto* none = find_problem(r, "security.client_tokens_file");
  ASSERT_NE(none, nullptr) << dump(r);
  EXPECT_NE(none->message.find("holds no token"), std::string::npos);

  auto b = load("  admin_token_file: " + blanks + "\n");
  const auto* p = find_problem(b, "security.admin_token_file");
  ASSERT_NE(p, nullptr) << dump(b);
  EXPECT_NE(p->message.find("line 2"), std::string::npos) << p->message;
  for (const auto& pr : b.problems) {
    EXPECT_EQ(pr.message.find("secret with"), std::string::npos) << pr.message;
    EXPECT_EQ(pr.message.find("good-token"), std::string::npos) << pr.message;
  }
  auto dirp = load("  admin_token: a\n  client_tokens_file: " + dir.string() + "\n");
  EXPECT_NE(find_problem(dirp, "security.client_tokens_file"), nullptr) << dump(dirp);
}

TEST_F(TokenFiles, BlankInsideAnInlineAdminTokenIsRefusedWithoutQuotingIt) {
  auto r = load("  admin_token: \"good, bad token\"\n");
  const auto* p = find_problem(r, "security.admin_token");
  ASSERT_NE(p, nullptr) << dump(r);
  EXPECT_EQ(p->message.find("bad token"), std::string::npos) << p->message;
}

TEST_F(TokenFiles, StreamerCallsIsOpenOrRegistered) {
  EXPECT_TRUE(load("  admin_token: a\n  streamer_calls: registered\n").ok());
  EXPECT_TRUE(load("  admin_token: a\n  streamer_calls: open\n").ok());
  auto r = load("  admin_token: a\n  streamer_calls: closed\n");
  const auto* p = find_problem(r, "security.streamer_calls");
  ASSERT_NE(p, nullptr) << dump(r);
  EXPECT_NE(p->message.find("registered"), std::string::npos);
  auto e = load("  admin_token: a\n", {{"MAXSESS__SECURITY__STREAMER_CALLS", "sometimes"}});
  EXPECT_NE(find_problem(e, "MAXSESS__SECURITY__STREAMER_CALLS"), nullptr) << dump(e);
}

TEST_F(TokenFiles, ToYamlRedactsTokensButShowsFilesAndPolicy) {
  auto admin = write("admin", "file-admin\n");
  auto r = load("  admin_token: inline-admin\n  admin_token_file: " + admin +
                "\n  streamer_calls: registered\n");
  ASSERT_TRUE(r.ok()) << dump(r);
  const auto y = mc::to_yaml(r.config);
  EXPECT_EQ(y.find("inline-admin"), std::string::npos) << y;
  EXPECT_EQ(y.find("s3cret"), std::string::npos) << y;
  EXPECT_NE(y.find(admin), std::string::npos) << y;
  EXPECT_NE(y.find("streamer_calls: \"registered\""), std::string::npos) << y;
  // And the unredacted form reads back the same.
  auto back = mc::load_from_string(mc::to_yaml(r.config, false), {});
  ASSERT_TRUE(back.ok()) << dump(back);
  EXPECT_EQ(back.config.security.admin_token_file, admin);
  EXPECT_EQ(back.config.security.streamer_calls, "registered");
}

// security.token_secret_file: the link keys in a file (the Debian package's
// /etc/maxsess/token_secret), one per line, the signing key first.
TEST_F(TokenFiles, TokenSecretFileGivesTheLinkKeys) {
  auto keys = write("keys", "# the first signs\nk2:new-secret\n\nk1:old-secret\n");
  auto admin = write("admin", "a\n");
  const std::string yaml = "storage:\n  dsn: \"host=127.0.0.1 dbname=maxsess\"\nsecurity:\n  admin_token_file: " +
                           admin + "\n  token_secret_file: " + keys + "\n";
  auto r = mc::load_from_string(yaml, {});
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.config.security.token_secret, "k2:new-secret,k1:old-secret");
  // Shown as its path, the keys redacted; the unredacted form reads back.
  const auto shown = mc::to_yaml(r.config);
  EXPECT_EQ(shown.find("new-secret"), std::string::npos) << shown;
  EXPECT_NE(shown.find(keys), std::string::npos) << shown;
  auto back = mc::load_from_string(mc::to_yaml(r.config, false), {});
  ASSERT_TRUE(back.ok()) << dump(back);
  EXPECT_EQ(back.config.security.token_secret, "k2:new-secret,k1:old-secret");
  // The environment may name it too.
  auto e = mc::load_from_string("storage:\n  dsn: x\nsecurity:\n  admin_token: a\n",
                                {{"MAXSESS_TOKEN_SECRET_FILE", keys}});
  ASSERT_TRUE(e.ok()) << dump(e);
  EXPECT_EQ(e.config.security.token_secret, "k2:new-secret,k1:old-secret");
}

TEST_F(TokenFiles, TokenSecretFileProblemsNameTheFileAndNeverAKey) {
  const std::string head = "storage:\n  dsn: x\nsecurity:\n  admin_token: a\n  token_secret_file: ";
  // Unreadable: the file's key is named, and token_secret is not also
  // reported missing.
  auto missing = mc::load_from_string(head + (dir / "missing").string() + "\n", {});
  ASSERT_FALSE(missing.ok());
  ASSERT_NE(find_problem(missing, "security.token_secret_file"), nullptr) << dump(missing);
  EXPECT_EQ(find_problem(missing, "security.token_secret"), nullptr) << dump(missing);
  // Empty, a repeated key id: problems of the file.
  auto empty = mc::load_from_string(head + write("empty", "# none\n") + "\n", {});
  ASSERT_NE(find_problem(empty, "security.token_secret_file"), nullptr) << dump(empty);
  auto dup = mc::load_from_string(head + write("dup", "k1:first-secret\nk1:second-secret\n") + "\n", {});
  const auto* p = find_problem(dup, "security.token_secret_file");
  ASSERT_NE(p, nullptr) << dump(dup);
  EXPECT_NE(p->message.find("k1"), std::string::npos) << p->message;
  for (const auto& pr : dup.problems) EXPECT_EQ(pr.message.find("first-secret"), std::string::npos) << pr.message;
  // Other keys in two places: which ones count would be a guess.
  auto twice = load("  admin_token: a\n  token_secret_file: " + write("k", "k1:x\n") + "\n");
  ASSERT_NE(find_problem(twice, "security.token_secret_file"), nullptr) << dump(twice);
  for (const auto& pr : twice.problems) EXPECT_EQ(pr.message.find("s3cret"), std::string::npos) << pr.message;
  // A relative path in the file is relative to the file.
  write("rel-keys", "k9:rel-secret\n");
  std::ofstream(dir / "maxsess.yaml") << "storage:\n  dsn: x\nsecurity:\n  admin_token: a\n  token_secret_file: rel-keys\n";
  auto rel = mc::load_from_file((dir / "maxsess.yaml").string(), {});
  ASSERT_TRUE(rel.ok()) << dump(rel);
  EXPECT_EQ(rel.config.security.token_secret, "k9:rel-secret");
}

}  // namespace
