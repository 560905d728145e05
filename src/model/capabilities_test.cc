// DiscoverCapabilities finds what each model type offers, and only that.
#include "model/capabilities.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "liverec/options.h"
#include "model/registry.h"

namespace liverec {
namespace {

// Which capabilities are present, one letter each (capabilities.h's table):
// c candidates, o observer, f forgetting, i item forgetting, e epochs, a features (aware), u unit
// similarity, r raw similarity, n nearest items, x feature explainer, m members.
std::string Offered(const ModelCapabilities& c) {
  std::string out;
  if (c.candidates != nullptr) out += 'c';
  if (c.observer != nullptr) out += 'o';
  if (c.forgetting != nullptr) out += 'f';
  if (c.item_forgetting != nullptr) out += 'i';
  if (c.epochs != nullptr) out += 'e';
  if (c.features != nullptr) out += 'a';
  if (c.unit_similarity != nullptr) out += 'u';
  if (c.raw_similarity != nullptr) out += 'r';
  if (c.nearest_items != nullptr) out += 'n';
  if (c.feature_explainer != nullptr) out += 'x';
  if (c.members != nullptr) out += 'm';
  return out;
}

std::unique_ptr<Model> Make(const std::string& type, Options* options) {
  for (const char* set : {"mf.dim=8", "fm.dim=8", "fm.hash_bits=10", "seq.dim=8"}) {
    EXPECT_TRUE(options->SetAssignment(set).ok()) << set;
  }
  StatusOr<std::unique_ptr<Model>> model = CreateModel(OptionView(options, type, type), Context{});
  EXPECT_TRUE(model.ok()) << model.status().message();
  return std::move(model).value();
}

TEST(CapabilitiesTest, EachModelTypeOffersWhatItsHeaderSays) {
  const std::pair<const char*, const char*> expected[] = {
      {"popularity", "ci"}, {"item_knn", "cofiurn"}, {"mf", "fiu"},           {"fm", "ofiax"},
      {"seq", "ofie"},      {"ensemble", "cofieam"}, {"transitions", "cofi"},
  };
  for (const auto& [type, offered] : expected) {
    Options options;
    std::unique_ptr<Model> model = Make(type, &options);
    EXPECT_EQ(Offered(DiscoverCapabilities(*model)), offered) << type;
  }
}

TEST(CapabilitiesTest, PointersAreTheModelItselfAndSurviveLoad) {
  Options options;
  std::unique_ptr<Model> model = Make("item_knn", &options);
  const ModelCapabilities capabilities = DiscoverCapabilities(*model);
  EXPECT_EQ(dynamic_cast<const Model*>(capabilities.candidates), model.get());
  EXPECT_EQ(dynamic_cast<const Model*>(capabilities.nearest_items), model.get());
  BinaryWriter out;
  model->Save(&out);
  const std::string bytes = out.Release();
  BinaryReader in(bytes);
  ASSERT_TRUE(model->Load(&in).ok());
  EXPECT_EQ(Offered(DiscoverCapabilities(*model)), Offered(capabilities));
  EXPECT_EQ(DiscoverCapabilities(*model).observer, capabilities.observer);
}

TEST(CapabilitiesTest, SimilarityBasesNameRankSimilarityValues) {
  Options options;
  EXPECT_EQ(DiscoverCapabilities(*Make("mf", &options)).unit_similarity->similarity_basis(),
            SimilarityBasis::kEmbedding);
  Options knn_options;
  EXPECT_EQ(
      DiscoverCapabilities(*Make("item_knn", &knn_options)).unit_similarity->similarity_basis(),
      SimilarityBasis::kCoOccurrence);
  EXPECT_EQ(SimilarityBasisName(SimilarityBasis::kEmbedding), "embedding");
  EXPECT_EQ(SimilarityBasisName(SimilarityBasis::kCoOccurrence), "knn");
}

TEST(CapabilitiesTest, AnEnsembleDiscoversItsMembersCapabilitiesAndRediscoversThemOnLoad) {
  Options options;
  ASSERT_TRUE(options.SetAssignment("ensemble.members=popularity,item_knn,mf,fm").ok());
  std::unique_ptr<Model> model = Make("ensemble", &options);
  const MemberList* list = DiscoverCapabilities(*model).members;
  ASSERT_NE(list, nullptr);
  auto offered = [list] {
    std::string out;
    for (const ModelMember& member : list->members()) {
      EXPECT_EQ(member.capabilities.candidates,
                dynamic_cast<const CandidateSource*>(member.model.get()));
      out += member.name + "=" + Offered(member.capabilities) + " ";
    }
    return out;
  };
  EXPECT_EQ(offered(), "popularity=ci item_knn=cofiurn mf=fiu fm=ofiax ");
  BinaryWriter out;
  model->Save(&out);
  const std::string bytes = out.Release();
  BinaryReader in(bytes);
  ASSERT_TRUE(model->Load(&in).ok());  // replaces the members
  EXPECT_EQ(offered(), "popularity=ci item_knn=cofiurn mf=fiu fm=ofiax ");
  EXPECT_EQ(Offered(DiscoverCapabilities(*model->Clone())), "cofieam");
}

}  // namespace
}  // namespace liverec
