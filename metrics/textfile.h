// One-shot runs and Prometheus: merging a run's exposition into a node_exporter textfile, and
// pushing it to a Pushgateway.
#pragma once

#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "sandbox/common/error.h"

namespace gaol::metrics {

// `current` added into `existing` (both text expositions): counters, histogram buckets, sums and
// counts add up series by series; gauges take the new value; a series or family only one side has
// is kept. The result is an exposition with each family's HELP and TYPE once.
Result<std::string> MergeExpositions(const std::string& existing, const std::string& current);

// Merges `exposition` into the textfile at `path` safely against other gaol runs finishing at the
// same time: an exclusive flock on the file's directory, read, merge, write a temporary file
// beside it, fsync, rename over the old one. node_exporter never sees a half-written file.
Status MergeIntoTextfile(const std::string& path, const std::string& exposition);

// PushAdd of the registry to a Pushgateway at http://HOST:PORT, grouped as job=`job`,
// instance=this host's name.
Status PushToGateway(const std::string& url, const std::string& job,
                     const std::shared_ptr<prometheus::Registry>& registry);

}  // namespace gaol::metrics
