#include "sandbox/seccomp/profile.h"

#include <seccomp.h>

#include <array>
#include <cctype>
#include <utility>

#include "sandbox/common/field_reader.h"

namespace gaol::seccomp {
namespace {

using nlohmann::json;

constexpr const char* kNoun = "seccomp profile field";

constexpr std::array<std::pair<std::string_view, Action>, 8> kActions = {{
    {"SCMP_ACT_ALLOW", Action::kAllow},
    {"SCMP_ACT_ERRNO", Action::kErrno},
    {"SCMP_ACT_KILL_PROCESS", Action::kKillProcess},
    {"SCMP_ACT_KILL", Action::kKillThread},
    {"SCMP_ACT_KILL_THREAD", Action::kKillThread},
    {"SCMP_ACT_TRAP", Action::kTrap},
    {"SCMP_ACT_TRACE", Action::kTrace},
    {"SCMP_ACT_LOG", Action::kLog},
}};

constexpr std::array<std::pair<std::string_view, int>, 7> kOps = {{
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
}};

// The filter flags runc and crun accept in `flags`.
constexpr std::array<std::string_view, 3> kFlags = {
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};

Result<Action> ReadAction(const FieldReader& reader, const char* key, bool required) {
  const json* v = reader.Find(key);
  if (!v) {
    if (required) return Invalid(reader.Name(key), "an action such as \"SCMP_ACT_ERRNO\"");
    return Action::kAllow;
  }
  if (v->is_string()) {
    for (const auto& [name, action] : kActions) {
      if (name == v->get<std::string>()) return action;
    }
    if (v->get<std::string>() == "SCMP_ACT_NOTIFY") {
      return Invalid(reader.Name(key),
                     "an action gaol can take itself (SCMP_ACT_NOTIFY needs "
                     "a listener of the profile's own, which gaol does not run)");
    }
  }
  return Invalid(reader.Name(key),
                 "one of SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL, "
                 "SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG");
}

Status ReadStrings(const FieldReader& reader, const char* key, std::vector<std::string>& out) {
  const json* v = reader.Find(key);
  if (!v) return {};
  if (!v->is_array()) return Invalid(reader.Name(key), "an array of strings");
  for (const auto& item : *v) {
    if (!item.is_string()) return Invalid(reader.Name(key), "an array of strings");
    out.push_back(item.get<std::string>());
  }
  return {};
}

Status ReadErrno(const FieldReader& reader, const char* key, std::uint32_t& out) {
  std::optional<std::uint32_t> v;
  if (auto s = reader.Unsigned(key, v); !s) return s;
  if (v && (*v == 0 || *v > 4095)) return Invalid(reader.Name(key), "an errno from 1 to 4095");
  if (v) out = *v;
  return {};
}

Result<Condition> ReadCondition(const FieldReader& rule, const char* key) {
  Condition c;
  const json* v = rule.Find(key);
  if (!v) return c;
  FieldReader reader(*v, rule.Child(key), kNoun);
  Status s = reader.CheckObject()
                 .and_then([&] {
                   return reader.CheckKnown({"caps", "arches", "minKernel"});
                 })
                 .and_then([&] { return ReadStrings(reader, "caps", c.caps); })
                 .and_then([&] { return ReadStrings(reader, "arches", c.arches); })
                 .and_then([&] { return reader.OptString("minKernel", c.min_kernel); });
  if (!s) return tl::unexpected(s.error());
  return c;
}

Result<ArgCompare> ReadArg(const json& value, const std::string& path) {
  FieldReader reader(value, path, kNoun);
  ArgCompare arg;
  std::optional<std::uint32_t> index;
  std::optional<std::uint64_t> v1, v2;
  std::string op;
  Status s = reader.CheckObject()
                 .and_then([&] {
                   return reader.CheckKnown({"index", "value", "valueTwo", "op"});
                 })
                 .and_then([&] { return reader.Unsigned("index", index); })
                 .and_then([&] { return reader.Unsigned("value", v1); })
                 .and_then([&] { return reader.Unsigned("valueTwo", v2); })
                 .and_then([&] { return reader.String("op", op); });
  if (!s) return tl::unexpected(s.error());
  if (!index || *index > 5) return Invalid(reader.Name("index"), "an argument index from 0 to 5");
  arg.index = *index;
  arg.value = v1.value_or(0);
  arg.value_two = v2.value_or(0);
  for (const auto& [name, code] : kOps) {
    if (name == op) arg.op = code;
  }
  if (!arg.op) {
    return Invalid(reader.Name("op"),
                   "one of SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, "
                   "SCMP_CMP_GT, SCMP_CMP_MASKED_EQ");
  }
  return arg;
}

Result<Rule> ReadRule(const json& value, const std::string& path) {
  FieldReader reader(value, path, kNoun);
  Rule rule;
  Status s = reader.CheckObject().and_then([&] {
    return reader.CheckKnown({"names", "name", "action", "errnoRet", "errno", "args", "comment",
                              "includes", "excludes"});
  });
  s = s.and_then([&] { return ReadStrings(reader, "names", rule.names); });
  if (!s) return tl::unexpected(s.error());
  if (const json* name = reader.Find("name")) {
    if (!name->is_string()) return Invalid(reader.Name("name"), "a syscall name");
    rule.names.push_back(name->get<std::string>());
  }
  if (rule.names.empty()) return Invalid(reader.Name("names"), "at least one syscall name");
  auto action = ReadAction(reader, "action", true);
  if (!action) return tl::unexpected(action.error());
  rule.action = *action;
  if (auto e = ReadErrno(reader, "errnoRet", rule.errno_ret); !e) return tl::unexpected(e.error());
  if (const json* args = reader.Find("args")) {
    if (!args->is_array()) return Invalid(reader.Name("args"), "an array of argument compares");
    for (std::size_t i = 0; i < args->size(); ++i) {
      auto arg = ReadArg((*args)[i], reader.Child(fmt::format("args[{}]", i)));
      if (!arg) return tl::unexpected(arg.error());
      rule.args.push_back(*arg);
    }
  }
  auto includes = ReadCondition(reader, "includes");
  if (!includes) return tl::unexpected(includes.error());
  auto excludes = ReadCondition(reader, "excludes");
  if (!excludes) return tl::unexpected(excludes.error());
  rule.includes = std::move(*includes);
  rule.excludes = std::move(*excludes);
  return rule;
}

Status ReadArchMap(const FieldReader& top, Profile& p) {
  const json* v = top.Find("archMap");
  if (!v) return {};
  if (!v->is_array()) return Invalid(top.Name("archMap"), "an array of architecture entries");
  for (std::size_t i = 0; i < v->size(); ++i) {
    FieldReader reader((*v)[i], fmt::format("archMap[{}]", i), kNoun);
    ArchMapEntry e;
    Status s =
        reader.CheckObject()
            .and_then([&] {
              return reader.CheckKnown({"architecture", "subArchitectures"});
            })
            .and_then([&] { return reader.String("architecture", e.architecture); })
            .and_then([&] { return ReadStrings(reader, "subArchitectures", e.sub_architectures); });
    if (!s) return s;
    p.arch_map.push_back(std::move(e));
  }
  return {};
}

}  // namespace

std::uint32_t ResolveArch(std::string_view name) {
  if (!name.starts_with("SCMP_ARCH_")) return 0;
  std::string lower(name.substr(10));
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return seccomp_arch_resolve_name(lower.c_str());
}

std::string_view ActionName(Action action) {
  for (const auto& [name, a] : kActions) {
    if (a == action) return name;
  }
  return "?";
}

Result<Profile> ParseProfile(std::string_view text, const std::string& name) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    return Invalid(fmt::format("seccomp profile `{}`", name), "valid JSON (it does not parse)");
  }
  FieldReader top(doc, "", kNoun);
  Profile p;
  p.name = name;
  Status s = top.CheckObject().and_then([&] {
    return top.CheckKnown({"defaultAction", "defaultErrnoRet", "defaultErrno", "architectures",
                           "archMap", "flags", "syscalls", "comment"});
  });
  if (!s) return tl::unexpected(s.error());
  auto action = ReadAction(top, "defaultAction", true);
  if (!action) return tl::unexpected(action.error());
  p.default_action = *action;
  s = ReadErrno(top, "defaultErrnoRet", p.default_errno)
          .and_then([&] { return ReadStrings(top, "architectures", p.architectures); })
          .and_then([&] { return ReadArchMap(top, p); })
          .and_then([&] { return ReadStrings(top, "flags", p.flags); });
  if (!s) return tl::unexpected(s.error());
  for (const auto& flag : p.flags) {
    bool known = false;
    for (auto f : kFlags) known = known || f == flag;
    if (!known) {
      return Invalid(top.Name("flags"),
                     "SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG or "
                     "SECCOMP_FILTER_FLAG_SPEC_ALLOW");
    }
  }
  for (const auto& arch : p.architectures) {
    if (!arch.starts_with("SCMP_ARCH_")) {
      return Invalid(top.Name("architectures"), fmt::format("SCMP_ARCH_* names (not `{}`)", arch));
    }
  }
  if (const json* rules = top.Find("syscalls")) {
    if (!rules->is_array()) return Invalid(top.Name("syscalls"), "an array of rules");
    for (std::size_t i = 0; i < rules->size(); ++i) {
      auto rule = ReadRule((*rules)[i], fmt::format("syscalls[{}]", i));
      if (!rule) return tl::unexpected(rule.error());
      p.rules.push_back(std::move(*rule));
    }
  }
  return p;
}

}  // namespace gaol::seccomp
