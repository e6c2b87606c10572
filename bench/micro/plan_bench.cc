// Plan is on every launch's critical path: how long it takes for a small and a large spec.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include "sandbox/plan/host_facts.h"
#include "sandbox/plan/plan.h"

namespace gaol {
namespace {

JobSpec SpecWithMounts(int mounts) {
  JobSpec spec;
  spec.command = {"python3", "solution.py"};
  for (int i = 0; i < mounts; ++i) {
    spec.mounts.push_back({.type = MountType::kBind,
                           .source = "/usr",
                           .target = "/data/m" + std::to_string(i),
                           .read_only = true});
  }
  return spec;
}

void BM_MakePlan(benchmark::State& state) {
  JobSpec spec = SpecWithMounts(static_cast<int>(state.range(0)));
  auto facts = GatherHostFacts(spec);
  if (!facts) {
    state.SkipWithError(facts.error().Message().c_str());
    return;
  }
  for (auto _ : state) {
    auto plan = MakePlan(spec, *facts);
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(BM_MakePlan)->Arg(0)->Arg(64);

void BM_GatherHostFacts(benchmark::State& state) {
  JobSpec spec = SpecWithMounts(0);
  for (auto _ : state) {
    auto facts = GatherHostFacts(spec);
    benchmark::DoNotOptimize(facts);
  }
}
BENCHMARK(BM_GatherHostFacts);

void BM_SpecJsonRoundTrip(benchmark::State& state) {
  JobSpec spec = SpecWithMounts(8);
  for (auto _ : state) {
    auto back = SpecFromJson(SpecToJson(spec));
    benchmark::DoNotOptimize(back);
  }
}
BENCHMARK(BM_SpecJsonRoundTrip);

}  // namespace
}  // namespace gaol

BENCHMARK_MAIN();
