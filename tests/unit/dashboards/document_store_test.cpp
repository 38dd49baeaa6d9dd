#include "tally/documents/document_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tally::documents {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class DocumentStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("tally-docs-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(DocumentStoreTest, CreateAssignsIdVersionAndTimesAndSurvivesAReload) {
    std::string id;
    {
        DocumentStore store(dir_, "dashboard", 10);
        const auto made = store.create({{"name", "a"}}, 1'700'000'000'000);
        ASSERT_EQ(made.outcome, DocumentStore::Outcome::ok);
        id = made.document["id"];
        EXPECT_TRUE(DocumentStore::valid_id(id));
        EXPECT_EQ(made.document["version"], 1);
        EXPECT_EQ(made.document["created_at"], "2023-11-14T22:13:20Z");
        EXPECT_TRUE(fs::exists(dir_ / (id + ".json")));
    }
    DocumentStore reloaded(dir_, "dashboard", 10);
    EXPECT_EQ(reloaded.load(), 1u);
    const auto got = reloaded.get(id);
    ASSERT_TRUE(got);
    EXPECT_EQ((*got)["name"], "a");
    EXPECT_EQ((*got)["version"], 1);
}

TEST_F(DocumentStoreTest, ReplaceNeedsTheCurrentVersion) {
    DocumentStore store(dir_, "dashboard", 10);
    const std::string id = store.create({{"name", "a"}}, 1000).document["id"];
    const auto second = store.replace(id, {{"name", "b"}}, 1, 2000);
    ASSERT_EQ(second.outcome, DocumentStore::Outcome::ok);
    EXPECT_EQ(second.document["version"], 2);
    EXPECT_EQ(second.document["created_at"], "1970-01-01T00:00:01Z");
    const auto stale = store.replace(id, {{"name", "c"}}, 1, 3000);
    EXPECT_EQ(stale.outcome, DocumentStore::Outcome::conflict);
    EXPECT_EQ(stale.document["name"], "b");  // the current one, unchanged
    EXPECT_EQ(stale.document["version"], 2);
    EXPECT_EQ(store.replace("nope", {{"name", "c"}}, 1, 3000).outcome,
              DocumentStore::Outcome::not_found);
    DocumentStore reloaded(dir_, "dashboard", 10);
    reloaded.load();
    EXPECT_EQ((*reloaded.get(id))["name"], "b");
}

TEST_F(DocumentStoreTest, RemoveDeletesTheFile) {
    DocumentStore store(dir_, "dashboard", 10);
    const std::string id = store.create({{"name", "a"}}, 1000).document["id"];
    EXPECT_EQ(store.remove(id).outcome, DocumentStore::Outcome::ok);
    EXPECT_FALSE(store.get(id));
    EXPECT_FALSE(fs::exists(dir_ / (id + ".json")));
    EXPECT_EQ(store.remove(id).outcome, DocumentStore::Outcome::not_found);
}

TEST_F(DocumentStoreTest, TheCapIsKept) {
    DocumentStore store(dir_, "dashboard", 2);
    store.create({{"name", "a"}}, 1);
    store.create({{"name", "b"}}, 2);
    EXPECT_EQ(store.create({{"name", "c"}}, 3).outcome, DocumentStore::Outcome::full);
    EXPECT_EQ(store.size(), 2u);
    const auto listed = store.list();
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed[0]["name"], "a");  // oldest first
}

TEST_F(DocumentStoreTest, DamagedFilesAreMovedAsideAndNewerFormatsKept) {
    std::string good;
    {
        DocumentStore store(dir_, "dashboard", 10);
        good = store.create({{"name", "a"}}, 1).document["id"];
    }
    std::ofstream(dir_ / "torn.json") << R"({"format": 1, "document": {"id": "torn", "vers)";
    std::ofstream(dir_ / "renamed.json")
        << R"({"format": 1, "document": {"id": "other", "version": 1}})";
    std::ofstream(dir_ / "future.json") << R"({"format": 9, "document": {}})";
    std::ofstream(dir_ / "left.json.tmp") << "half";
    DocumentStore store(dir_, "dashboard", 10);
    EXPECT_EQ(store.load(), 1u);
    EXPECT_TRUE(store.get(good));
    EXPECT_TRUE(fs::exists(dir_ / "torn.json.damaged"));
    EXPECT_TRUE(fs::exists(dir_ / "renamed.json.damaged"));
    EXPECT_TRUE(fs::exists(dir_ / "future.json"));  // a later build's: left alone
    EXPECT_TRUE(fs::exists(dir_ / "left.json.tmp"));
}

TEST(DocumentIds, OnlyPlainNames) {
    EXPECT_TRUE(DocumentStore::valid_id("abc123"));
    for (const char* bad : {"", "../etc", "a/b", "A", "a.json", "a b"})
        EXPECT_FALSE(DocumentStore::valid_id(bad)) << bad;
    EXPECT_FALSE(DocumentStore::valid_id(std::string(65, 'a')));
}

}  // namespace
}  // namespace tally::documents
