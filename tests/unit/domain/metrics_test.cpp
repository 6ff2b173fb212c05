#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "domain/metrics.hpp"

using namespace maxsess;

TEST(Metrics, CountersGaugesAndHistogramsRenderInTextFormat) {
  metric_registry m;
  m.describe_counter("x_total", "Things.");
  m.describe_gauge("g", "A gauge.");
  m.describe_histogram("h_seconds", "Latency.", {0.1, 1});
  m.inc("x_total", {{"result", "ok"}});
  m.inc("x_total", {{"result", "ok"}}, 2);
  m.inc("x_total", {{"result", "a\"b"}});
  m.set("g", {}, 7);
  m.observe("h_seconds", {{"route", "links"}}, 0.05);
  m.observe("h_seconds", {{"route", "links"}}, 0.5);
  m.observe("h_seconds", {{"route", "links"}}, 5);
  EXPECT_EQ(m.value("x_total", {{"result", "ok"}}), 3);
  auto text = m.render("extra_line 1\n");
  EXPECT_NE(text.find("# HELP x_total Things.\n# TYPE x_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_total{result=\"ok\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_total{result=\"a\\\"b\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE g gauge\ng 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_seconds_bucket{route=\"links\",le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_seconds_bucket{route=\"links\",le=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_seconds_bucket{route=\"links\",le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_seconds_count{route=\"links\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_seconds_sum{route=\"links\"} 5.55\n"), std::string::npos) << text;
  EXPECT_NE(text.find("extra_line 1\n"), std::string::npos);
}

TEST(Metrics, ZeroShowsACounterBeforeItsFirstIncrementAndNeverResetsIt) {
  maxsess::metric_registry m;
  m.describe_counter("jobs_total", "Jobs.");
  EXPECT_EQ(m.render().find("jobs_total 0"), std::string::npos);  // not zeroed: no sample
  m.zero("jobs_total");
  EXPECT_NE(m.render().find("\njobs_total 0\n"), std::string::npos) << m.render();
  m.inc("jobs_total", {}, 3);
  m.zero("jobs_total");  // a later zero() must not reset a counter
  EXPECT_EQ(m.value("jobs_total"), 3);
  m.zero("by_kind_total", {{"kind", "a"}});
  EXPECT_NE(m.render().find("by_kind_total{kind=\"a\"} 0"), std::string::npos) << m.render();
}

// A Unix time in seconds (last sync, start time) renders to the millisecond:
// alerts take time() minus it, and changes() of the start time counts
// restarts. Fractions read back as the same double; NaN as Prometheus spells it.
TEST(Metrics, ValuesRenderExactly) {
  metric_registry m;
  m.set("ts_seconds", {}, 1796118662.25);
  m.set("small", {}, 2.6365e-05);
  m.set("big", {}, 1e20);
  m.set("nan", {}, std::nan(""));
  auto text = m.render();
  EXPECT_NE(text.find("\nts_seconds 1796118662.25\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nsmall 2.6365e-05\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nbig 1e+20\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nnan NaN\n"), std::string::npos) << text;
}

// The refs the per-request paths resolve once update the same series as
// inc/observe by name (rendered alike), and lose nothing when several
// threads count at once (they take no lock).
TEST(Metrics, ResolvedSeriesCountLikeNamedUpdatesAndLoseNothingAcrossThreads) {
  metric_registry m;
  m.describe_histogram("lat_seconds", "Latency.", {0.1, 1});
  auto c = m.counter("req_total", {{"route", "auth"}});
  auto h = m.histogram("lat_seconds", {{"route", "auth"}});
  lazy_counters by_code(m, "codes_total", 600, [](std::size_t k) {
    return metric_registry::labels{{"code", std::to_string(k)}};
  });
  EXPECT_EQ(m.render().find("codes_total{"), std::string::npos) << "no series before its first count";
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(i % 2 ? 0.0625 : 4);  // exact in binary: the sum is exact
        by_code.inc(i % 3 ? 200 : 403);
      }
    });
  for (auto& t : threads) t.join();
  m.inc("req_total", {{"route", "auth"}});
  m.observe("lat_seconds", {{"route", "auth"}}, 0.5);
  EXPECT_EQ(m.value("req_total", {{"route", "auth"}}), 40001);
  EXPECT_EQ(m.value("codes_total", {{"code", "200"}}), 4 * 6666);
  EXPECT_EQ(m.value("codes_total", {{"code", "403"}}), 4 * 3334);
  by_code.inc(600);  // out of range: counts nothing
  auto text = m.render();
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"auth\",le=\"0.1\"} 20000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"auth\",le=\"1\"} 20001\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"auth\",le=\"+Inf\"} 40001\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_count{route=\"auth\"} 40001\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_sum{route=\"auth\"} 81250.5\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("codes_total{code=\"600\"}"), std::string::npos);
}
