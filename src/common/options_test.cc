#include "liverec/options.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

namespace liverec {
namespace {

TEST(OptionsTest, DefaultsComeFromTheTable) {
  Options options;
  EXPECT_EQ(options.GetInt("mf", "mf", "dim"), 64);
  EXPECT_EQ(options.GetString("mf", "mf", "mode"), "implicit");
  EXPECT_DOUBLE_EQ(options.GetDurationSeconds("popularity", "popularity", "half_life"), 0);
}

TEST(OptionsTest, InstanceOverrideBeatsTypeOverrideBeatsDefault) {
  Options options;
  ASSERT_TRUE(options.Set("mf.dim", "32").ok());
  ASSERT_TRUE(options.SetAssignment("mf_wide.dim=128").ok());
  ASSERT_TRUE(options.Validate({{"mf_wide", "mf"}}).ok());
  EXPECT_EQ(options.GetInt("mf", "mf", "dim"), 32);
  EXPECT_EQ(options.GetInt("mf_wide", "mf", "dim"), 128);
  OptionView view(&options, "mf_wide", "mf");
  EXPECT_EQ(view.Int("dim"), 128);
  EXPECT_DOUBLE_EQ(view.Float("learning_rate"), 0.3);  // neither overrides it: the default
}

TEST(OptionsTest, UnknownOptionSuggestsTheClosestName) {
  Options options;
  Status s = options.Set("mf.dimm", "8");
  ASSERT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("did you mean 'mf.dim'"), std::string::npos) << s.message();
}

TEST(OptionsTest, BadValuesNameTheOptionAndTheExpectation) {
  Options options;
  Status s = options.Set("mf.dim", "abc");
  EXPECT_NE(s.message().find("'mf.dim': expected an integer, got 'abc'"), std::string::npos)
      << s.message();
  s = options.Set("mf.dim", "0");
  EXPECT_NE(s.message().find("outside"), std::string::npos) << s.message();
  s = options.Set("mf.mode", "explicit");
  EXPECT_NE(s.message().find("implicit|rating"), std::string::npos) << s.message();
  s = options.Set("popularity.half_life", "3 weeks");
  EXPECT_FALSE(s.ok());
  s = options.SetAssignment("mf.dim");
  EXPECT_NE(s.message().find("key=value"), std::string::npos);
}

TEST(OptionsTest, ValidateRejectsUnknownInstancesAndFields) {
  Options options;
  ASSERT_TRUE(options.Set("nosuch.dim", "8").ok());  // checked once instances are known
  EXPECT_FALSE(options.Validate({{"mf_wide", "mf"}}).ok());
  Options options2;
  ASSERT_TRUE(options2.Set("mf_wide.window", "8").ok());
  Status s = options2.Validate({{"mf_wide", "mf"}});
  EXPECT_NE(s.message().find("has no option 'window'"), std::string::npos) << s.message();
  Options options3;
  ASSERT_TRUE(options3.Set("mf_wide.dim", "-3").ok());
  EXPECT_FALSE(options3.Validate({{"mf_wide", "mf"}}).ok());
}

TEST(OptionsTest, DurationsParseWithUnits) {
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("90"), 90);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("90s"), 90);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("250ms"), 0.25);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("15m"), 900);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("48h"), 172800);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("1.5d"), 129600);
  EXPECT_FALSE(ParseDurationSeconds("").ok());
  EXPECT_FALSE(ParseDurationSeconds("-1h").ok());
  EXPECT_FALSE(ParseDurationSeconds("3 parsecs").ok());
}

TEST(OptionsTest, MarkdownListsEveryOption) {
  std::string md = OptionTableMarkdown();
  for (const OptionSpec& spec : AllOptions()) {
    EXPECT_NE(md.find("`" + std::string(spec.name) + "`"), std::string::npos) << spec.name;
  }
}

TEST(OptionsTest, EveryDefaultIsValid) {
  for (const OptionSpec& spec : AllOptions()) {
    Options options;
    EXPECT_TRUE(options.Set(spec.name, spec.default_value).ok()) << spec.name;
  }
}

TEST(OptionsTest, ConfigFileSetsOptionsAndNamesTheBadLine) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "liverec_options_test.conf").string();
  {
    std::ofstream out(path);
    out << "# liverec\n\nserve.port = 9090\n  mf.dim=16\n";
  }
  Options options;
  ASSERT_TRUE(options.LoadConfigFile(path).ok());
  EXPECT_EQ(options.GetInt("", "serve", "port"), 9090);
  EXPECT_EQ(options.GetInt("mf", "mf", "dim"), 16);
  {
    std::ofstream out(path);
    out << "serve.port = 1\nserve.prot = 2\n";
  }
  Status status = Options().LoadConfigFile(path);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(path + ":2"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("serve.port"), std::string::npos) << status.message();
  std::remove(path.c_str());
  EXPECT_EQ(Options().LoadConfigFile(path).code(), StatusCode::kIOError);
}

TEST(OptionsTest, ValidateNamesTheConfigLineOfAnInstanceOption) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "liverec_options_instance_test.conf").string();
  {
    std::ofstream out(path);
    out << "engine.models = mf_wide:mf\n\nmf_wide.dim = many\nmf_wide.epochs = 3\n";
  }
  Options options;
  ASSERT_TRUE(options.LoadConfigFile(path).ok());
  Status status = options.Validate({{"mf_wide", "mf"}});
  EXPECT_EQ(status.message(),
            path + ":3: for 'mf_wide.dim': option 'mf.dim': expected an integer, got 'many'");
  // Set again from elsewhere (--set): the file's line no longer applies.
  ASSERT_TRUE(options.Set("mf_wide.dim", "also bad").ok());
  status = options.Validate({{"mf_wide", "mf"}});
  EXPECT_EQ(status.message(),
            "for 'mf_wide.dim': option 'mf.dim': expected an integer, got 'also bad'");
  std::remove(path.c_str());
}

TEST(OptionsTest, EnvironmentVariablesFollowTheOptionNames) {
  std::map<std::string, std::string> env = {
      {"LIVEREC_SERVE_PORT", "7070"}, {"LIVEREC_LOG_SYNC", "never"}, {"OTHER", "x"}};
  auto getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  Options options;
  ASSERT_TRUE(options.LoadEnvironment(getenv).ok());
  EXPECT_EQ(options.GetInt("", "serve", "port"), 7070);
  EXPECT_EQ(options.GetString("", "log", "sync"), "never");
  env["LIVEREC_SERVE_PORT"] = "http";
  Status status = Options().LoadEnvironment(getenv);
  EXPECT_NE(status.message().find("LIVEREC_SERVE_PORT"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace liverec
