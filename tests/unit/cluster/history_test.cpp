#include "tests/support/history.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

namespace maxsess::test {
namespace {

using kind = violation::kind;

link_op approved(const std::string& dev, time_ns sent, time_ns received, const std::string& acc = "acc") {
  return {acc, dev, sent, received, link_answer::approved};
}
link_op denied(const std::string& dev, time_ns sent, time_ns received, const std::string& acc = "acc") {
  return {acc, dev, sent, received, link_answer::denied};
}
link_op unknown(const std::string& dev, time_ns sent, const std::string& acc = "acc") {
  return {acc, dev, sent, 0, link_answer::indeterminate};
}
end_op ended(const std::string& dev, time_ns sent, time_ns received, const std::string& acc = "acc") {
  return {acc, dev, sent, received, true};
}
end_op end_unanswered(const std::string& dev, time_ns sent, const std::string& acc = "acc") {
  return {acc, dev, sent, 0, false};
}

TEST(history, one_slot_handed_from_device_to_device_passes) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20));
  h.record(ended("tv", 30, 35));
  h.record(approved("phone", 40, 50));
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
  EXPECT_EQ(h.certain_holders_at_end(), (std::vector<device_ref>{{"acc", "phone"}}));
}

TEST(history, two_overlapping_certain_holders_on_a_limit_of_one_are_reported) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20));
  h.record(approved("phone", 15, 25));
  h.record(ended("tv", 30, 35));
  auto v = h.check();
  ASSERT_EQ(v.size(), 1u) << describe(v);
  EXPECT_EQ(v[0].what, kind::over_limit);
  EXPECT_EQ(v[0].account, "acc");
  EXPECT_EQ(v[0].at, 25);
  EXPECT_EQ(v[0].limit, 1);
  EXPECT_EQ(v[0].holders, (std::vector<std::string>{"phone", "tv"}));
  EXPECT_NE(to_string(v[0]).find("phone,tv"), std::string::npos) << to_string(v[0]);
}

TEST(history, an_indeterminate_approval_never_counts) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20));
  h.record(unknown("phone", 15));
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
  EXPECT_EQ(h.certain_holders_at_end(), (std::vector<device_ref>{{"acc", "tv"}}));
}

TEST(history, overlapping_only_through_an_indeterminate_approval_passes) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20));
  h.record(unknown("box", 25));  // overlaps tv and phone, proves nothing
  h.record(ended("tv", 30, 40));
  h.record(approved("phone", 35, 45));
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
}

TEST(history, end_sent_before_another_devices_approval_was_received_is_no_overlap) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20));
  h.record(ended("tv", 50, 60));
  h.record(approved("phone", 40, 55));  // asked before tv's end, answered after it was sent
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
}

TEST(history, approval_received_before_the_other_devices_end_was_sent_is_an_overlap) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20));
  h.record(ended("tv", 50, 60));
  h.record(approved("phone", 40, 49));
  ASSERT_EQ(h.check().size(), 1u);
  EXPECT_EQ(h.check()[0].at, 49);
}

TEST(history, end_sent_at_the_instant_the_other_approval_arrives_is_no_overlap) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20));
  h.record(ended("tv", 50, 60));
  h.record(approved("phone", 40, 50));
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
}

TEST(history, a_device_approved_again_keeps_its_one_slot) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20));
  h.record(approved("tv", 30, 40));  // zapping
  h.record(approved("tv", 35, 45));
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
  EXPECT_EQ(h.certain_holders_at_end().size(), 1u);
}

TEST(history, an_unanswered_end_still_ends_certainty_when_sent) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20));
  h.record(end_unanswered("tv", 30));
  h.record(approved("phone", 40, 50));
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
  EXPECT_EQ(h.certain_holders_at_end(), (std::vector<device_ref>{{"acc", "phone"}}));
}

TEST(history, an_approval_racing_the_same_devices_end_proves_nothing) {
  history h({{"acc", 1}});
  h.record(ended("tv", 10, 50));     // may have landed after the approval
  h.record(approved("tv", 20, 30));
  h.record(approved("phone", 35, 40));
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
  EXPECT_EQ(h.certain_holders_at_end(), (std::vector<device_ref>{{"acc", "phone"}}));
}

TEST(history, an_approval_after_the_same_devices_end_was_answered_counts) {
  history h({{"acc", 1}});
  h.record(ended("tv", 10, 15));
  h.record(approved("tv", 20, 30));
  h.record(approved("phone", 35, 40));
  EXPECT_EQ(h.check().size(), 1u);
}

TEST(history, unanswered_end_before_an_approval_voids_it_forever) {
  history h({{"acc", 1}});
  h.record(end_unanswered("tv", 10));  // could land at any time
  h.record(approved("tv", 20, 30));
  h.record(approved("phone", 35, 40));
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
}

TEST(history, limits_above_one_and_unlimited_accounts) {
  history h({{"two", 2}, {"free", 0}});
  for (auto acc : {"two", "free"}) {
    h.record(approved("a", 10, 20, acc));
    h.record(approved("b", 11, 21, acc));
    h.record(approved("c", 12, 22, acc));
  }
  auto v = h.check();
  ASSERT_EQ(v.size(), 1u) << describe(v);
  EXPECT_EQ(v[0].account, "two");
  EXPECT_EQ(v[0].holders, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(history, accounts_are_judged_separately) {
  history h({{"acc1", 1}, {"acc2", 1}});
  h.record(approved("tv", 10, 20, "acc1"));
  h.record(approved("tv", 10, 20, "acc2"));
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
  EXPECT_EQ(h.certain_holders_at_end().size(), 2u);
}

TEST(history, every_approval_past_the_limit_is_reported) {
  history h({{"acc", 1}});
  h.record(approved("a", 10, 20));
  h.record(approved("b", 10, 30));
  h.record(approved("c", 10, 40));
  EXPECT_EQ(h.check().size(), 2u);
}

TEST(history, denying_a_device_that_certainly_holds_is_reported) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20));
  h.record(denied("tv", 30, 35));
  auto v = h.check();
  ASSERT_EQ(v.size(), 1u) << describe(v);
  EXPECT_EQ(v[0].what, kind::holder_denied);
  EXPECT_EQ(v[0].holders, std::vector<std::string>{"tv"});
}

TEST(history, denial_overlapping_the_approval_or_the_end_is_not_reported) {
  history h({{"acc", 1}});
  h.record(denied("tv", 5, 15));     // may have come before the approval
  h.record(approved("tv", 10, 20));
  h.record(denied("tv", 30, 45));    // may have come after the end
  h.record(ended("tv", 40, 50));
  h.record(denied("phone", 25, 26)); // phone holds nothing: a plain denial
  EXPECT_TRUE(h.check().empty()) << describe(h.check());
}

TEST(history, an_account_without_a_limit_fails_the_check) {
  history h({{"acc", 1}});
  h.record(approved("tv", 10, 20, "other"));
  auto v = h.check();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].what, kind::unknown_account);
  h.set_limit("other", 1);
  EXPECT_TRUE(h.check().empty());
}

TEST(history, answers_before_requests_are_a_test_bug) {
  history h;
  EXPECT_THROW(h.record(approved("tv", 20, 10)), std::invalid_argument);
  EXPECT_THROW(h.record(ended("tv", 20, 10)), std::invalid_argument);
  EXPECT_NO_THROW(h.record(unknown("tv", 20)));
  EXPECT_NO_THROW(h.record(end_unanswered("tv", 20)));
}

TEST(history, records_from_many_threads) {
  history h({{"acc", 0}});
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&h, t] {
      for (int i = 0; i < 1000; ++i) {
        time_ns sent = steady_now_ns();
        h.record(approved("d" + std::to_string(t), sent, steady_now_ns()));
      }
    });
  for (auto& c : clients)
    c.join();
  EXPECT_EQ(h.size(), 8000u);
  EXPECT_TRUE(h.check().empty());
  EXPECT_EQ(h.certain_holders_at_end().size(), 8u);
}

TEST(history, describe_caps_its_lines) {
  std::vector<violation> vs(3, violation{kind::over_limit, "acc", 1, 1, {"a", "b"}, "x"});
  auto text = describe(vs, 2);
  EXPECT_NE(text.find("and 1 more"), std::string::npos) << text;
}

}  // namespace
}  // namespace maxsess::test
