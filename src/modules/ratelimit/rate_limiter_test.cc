#include "modules/ratelimit/rate_limiter.h"

#include <gtest/gtest.h>

namespace parley::ratelimit {
namespace {

TEST(RateLimiter, AllowsBurstThenRefusesWithRetryAfter) {
  FakeClock clock;
  auto rl = make_in_memory_rate_limiter(clock);
  Policy p{3, 10'000};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl->take("k", p).allowed) << i;
  auto d = rl->take("k", p);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 10);
}

TEST(RateLimiter, RefillsOverTimeAndNeverAboveBurst) {
  FakeClock clock;
  auto rl = make_in_memory_rate_limiter(clock);
  Policy p{2, 1000};
  EXPECT_TRUE(rl->take("k", p).allowed);
  EXPECT_TRUE(rl->take("k", p).allowed);
  EXPECT_FALSE(rl->take("k", p).allowed);
  clock.advance_ms(1000);
  EXPECT_TRUE(rl->take("k", p).allowed);
  clock.advance_ms(60'000);
  EXPECT_TRUE(rl->take("k", p).allowed);
  EXPECT_TRUE(rl->take("k", p).allowed);
  EXPECT_FALSE(rl->take("k", p).allowed);
}

TEST(RateLimiter, SubMillisecondRefillGivesMoreThanOneTokenPerMillisecond) {
  FakeClock clock;
  auto rl = make_in_memory_rate_limiter(clock);
  Policy p{5000, 0.2};  // 5000 per second
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(rl->take("k", p).allowed) << i;
  EXPECT_FALSE(rl->take("k", p).allowed);
  clock.advance_ms(1);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl->take("k", p).allowed) << i;
  EXPECT_FALSE(rl->take("k", p).allowed);
}

TEST(RateLimiter, KeysAreIndependent) {
  FakeClock clock;
  auto rl = make_in_memory_rate_limiter(clock);
  Policy p{1, 1000};
  EXPECT_TRUE(rl->take("a", p).allowed);
  EXPECT_FALSE(rl->take("a", p).allowed);
  EXPECT_TRUE(rl->take("b", p).allowed);
}

TEST(RateLimiter, BoundedKeysDropLeastRecentlyUsed) {
  FakeClock clock;
  auto rl = make_in_memory_rate_limiter(clock, 2);
  Policy p{1, 100'000};
  EXPECT_TRUE(rl->take("a", p).allowed);
  EXPECT_TRUE(rl->take("b", p).allowed);
  EXPECT_FALSE(rl->take("b", p).allowed);  // b is most recent
  EXPECT_TRUE(rl->take("c", p).allowed);   // evicts a
  EXPECT_FALSE(rl->take("b", p).allowed);  // b kept
  EXPECT_TRUE(rl->take("a", p).allowed);   // a starts full again
}

}  // namespace
}  // namespace parley::ratelimit
