// The normalisation rules: page keys, referrer hosts, device guesses, names.

#include <gtest/gtest.h>

#include "tally/base/names.hpp"
#include "tally/ingest/parse.hpp"

namespace tally::ingest {
namespace {

TEST(PageKey, AbsoluteUrlGivesItsPath) {
    EXPECT_EQ(page_key("https://example.com/pricing"), "/pricing");
    EXPECT_EQ(page_key("http://example.com/a/b/c.html"), "/a/b/c.html");
    EXPECT_EQ(page_key("https://example.com:8443/a"), "/a");
    EXPECT_EQ(page_key("https://user:pw@example.com/a"), "/a");
    EXPECT_EQ(page_key("https://[::1]:8080/a"), "/a");
}

TEST(PageKey, QueryAndFragmentAreCut) {
    EXPECT_EQ(page_key("https://example.com/pricing?plan=pro#faq"), "/pricing");
    EXPECT_EQ(page_key("https://example.com/pricing#faq?x"), "/pricing");
    EXPECT_EQ(page_key("https://example.com/?utm_source=x"), "/");
}

TEST(PageKey, HostOnlyGivesRoot) {
    EXPECT_EQ(page_key("https://example.com"), "/");
    EXPECT_EQ(page_key("https://example.com/"), "/");
    EXPECT_EQ(page_key("https://example.com?next=/admin"), "/");  // '/' in the query is no path
    EXPECT_EQ(page_key("https://example.com#/route"), "/");
    EXPECT_EQ(page_key("https://"), "/");
}

TEST(PageKey, SchemeIsCaseInsensitiveAndPathKeepsItsCase) {
    EXPECT_EQ(page_key("HTTPS://Example.COM/Docs/Intro"), "/Docs/Intro");
    EXPECT_EQ(page_key("Http://example.com/x"), "/x");
}

TEST(PageKey, RelativeValueIsKeptAndCut) {
    EXPECT_EQ(page_key("/docs/intro"), "/docs/intro");
    EXPECT_EQ(page_key("/docs/intro?x=1"), "/docs/intro");
    EXPECT_EQ(page_key("/docs#section"), "/docs");
    EXPECT_EQ(page_key("docs"), "docs");
    EXPECT_EQ(page_key("/"), "/");
    EXPECT_EQ(page_key("?x=1"), "/");
    EXPECT_EQ(page_key("#top"), "/");
    EXPECT_EQ(page_key(""), "/");
    // Not http(s): the value itself, as the rule says.
    EXPECT_EQ(page_key("ftp://example.com/file"), "ftp://example.com/file");
    EXPECT_EQ(page_key("//example.com/x"), "//example.com/x");
    EXPECT_EQ(page_key("http:/x"), "http:/x");
}

TEST(ReferrerHost, LowerCasedHost) {
    EXPECT_EQ(referrer_host("https://Google.com/x"), "google.com");
    EXPECT_EQ(referrer_host("HTTPS://WWW.EXAMPLE.ORG"), "www.example.org");
    EXPECT_EQ(referrer_host("http://news.ycombinator.com/item?id=1"), "news.ycombinator.com");
    EXPECT_EQ(referrer_host("https://example.com?q=1"), "example.com");
    EXPECT_EQ(referrer_host("https://example.com#top"), "example.com");
    EXPECT_EQ(referrer_host("android-app://com.google.android.gm/"), "com.google.android.gm");
}

TEST(ReferrerHost, PortIsStripped) {
    EXPECT_EQ(referrer_host("https://www.google.com:443/search?q=1"), "www.google.com");
    EXPECT_EQ(referrer_host("http://localhost:3000"), "localhost");
    EXPECT_EQ(referrer_host("http://127.0.0.1:8080/a"), "127.0.0.1");
}

TEST(ReferrerHost, UserinfoIsStripped) {
    EXPECT_EQ(referrer_host("https://user@example.com/"), "example.com");
    EXPECT_EQ(referrer_host("https://user:secret@Example.com:8443/x"), "example.com");
    EXPECT_EQ(referrer_host("https://a@b@example.com/"), "example.com");
    EXPECT_EQ(referrer_host("https://@example.com/"), "example.com");
}

TEST(ReferrerHost, Ipv6KeepsBracketsAndLosesPort) {
    EXPECT_EQ(referrer_host("http://[::1]:8080/x"), "[::1]");
    EXPECT_EQ(referrer_host("http://[::1]/x"), "[::1]");
    EXPECT_EQ(referrer_host("http://[2001:DB8::1]"), "[2001:db8::1]");
    EXPECT_EQ(referrer_host("http://user@[2001:db8::1]:443/"), "[2001:db8::1]");
    EXPECT_EQ(referrer_host("http://[::1"), "direct");  // unterminated literal
}

TEST(ReferrerHost, HostlessIsDirect) {
    EXPECT_EQ(referrer_host(""), "direct");
    EXPECT_EQ(referrer_host("google.com"), "direct");  // no scheme
    EXPECT_EQ(referrer_host("www.google.com/search"), "direct");
    EXPECT_EQ(referrer_host("/local/page"), "direct");
    EXPECT_EQ(referrer_host("https://"), "direct");
    EXPECT_EQ(referrer_host("https:///path"), "direct");
    EXPECT_EQ(referrer_host("https://:8080/"), "direct");
    EXPECT_EQ(referrer_host("https://user@/"), "direct");
    EXPECT_EQ(referrer_host("://example.com"), "direct");               // empty scheme
    EXPECT_EQ(referrer_host("/go?to=https://evil.example"), "direct");  // not a scheme
    EXPECT_EQ(referrer_host("about:blank"), "direct");
}

struct DeviceCase {
    const char* what;
    const char* user_agent;
    Device device;
};

TEST(GuessDevice, RealUserAgents) {
    const DeviceCase cases[] = {
        {"iPhone Safari",
         "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
         Device::mobile},
        {"iPad Safari",
         "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/16.6 Mobile/15E148 Safari/604.1",
         Device::tablet},
        {"iPod touch",
         "Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1",
         Device::mobile},
        {"Android phone Chrome",
         "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.6099.144 Mobile Safari/537.36",
         Device::mobile},
        {"Android tablet Chrome",
         "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36",
         Device::tablet},
        {"Android phone Firefox",
         "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0", Device::mobile},
        {"Android tablet Firefox",
         "Mozilla/5.0 (Android 14; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0", Device::tablet},
        {"Kindle Fire Silk",
         "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Silk/120.4.1 like Chrome/120.0.6099.230 Safari/537.36",
         Device::tablet},
        {"BlackBerry PlayBook",
         "Mozilla/5.0 (PlayBook; U; RIM Tablet OS 2.1.0; en-US) AppleWebKit/536.2+ (KHTML like "
         "Gecko) Version/7.2.1.0 Safari/536.2+",
         Device::tablet},
        {"Windows Phone",
         "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 "
         "(KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977",
         Device::mobile},
        {"BlackBerry",
         "Mozilla/5.0 (BlackBerry; U; BlackBerry 9900; en) AppleWebKit/534.11+ (KHTML, like Gecko) "
         "Version/7.1.0.346 Mobile Safari/534.11+",
         Device::mobile},
        {"Opera Mini",
         "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) "
         "Presto/2.5.25 Version/10.54",
         Device::mobile},
        {"Windows Chrome",
         "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36",
         Device::desktop},
        {"Mac Safari",
         "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.2 Safari/605.1.15",
         Device::desktop},
        {"Linux Firefox", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
         Device::desktop},
        {"Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
         Device::desktop},
        {"bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
         Device::desktop},
        // Google's smartphone crawler poses as a phone, and is counted as one.
        {"Googlebot smartphone",
         "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
         "like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
         "+http://www.google.com/bot.html)",
         Device::mobile},
        {"curl", "curl/8.4.0", Device::desktop},
        {"empty", "", Device::desktop},
    };
    for (const DeviceCase& c : cases) {
        EXPECT_EQ(guess_device(c.user_agent), c.device) << c.what;
    }
}

TEST(DeviceName, Names) {
    EXPECT_STREQ(device_name(Device::desktop), "desktop");
    EXPECT_STREQ(device_name(Device::mobile), "mobile");
    EXPECT_STREQ(device_name(Device::tablet), "tablet");
}

TEST(ValidSite, CharactersAndLength) {
    EXPECT_TRUE(valid_site("default"));
    EXPECT_TRUE(valid_site("a"));
    EXPECT_TRUE(valid_site("My-Site.example_1"));
    EXPECT_TRUE(valid_site(std::string(64, 's')));
    EXPECT_FALSE(valid_site(std::string(65, 's')));
    EXPECT_FALSE(valid_site(""));
    for (const char* bad : {"a b", "a/b", "a:b", "a{b}", "a*", "é", "a\n"}) {
        EXPECT_FALSE(valid_site(bad)) << bad;
    }
}

TEST(ValidEventName, CharactersAndLength) {
    EXPECT_TRUE(valid_event_name("signup"));
    EXPECT_TRUE(valid_event_name("e"));
    EXPECT_TRUE(valid_event_name("checkout:step-2.done_ok"));
    EXPECT_TRUE(valid_event_name(std::string(64, 'e')));
    EXPECT_FALSE(valid_event_name(std::string(65, 'e')));
    EXPECT_FALSE(valid_event_name(""));
    for (const char* bad : {"sign up", "a/b", "a,b", "pageview:/x", "ü", "a\tb"}) {
        EXPECT_FALSE(valid_event_name(bad)) << bad;
    }
}

}  // namespace
}  // namespace tally::ingest
