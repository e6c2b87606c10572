// Reads one JSON object field by field (the spec, seccomp profiles), naming the full path of
// whatever is wrong.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "sandbox/common/error.h"

namespace gaol {

// Reads one JSON object field by field, naming the full path of whatever is wrong. Every key must
// be known: a misspelt limit must not silently run the job without it.
class FieldReader {
 public:
  // `noun` names what is read in messages: "spec field", "seccomp profile field".
  FieldReader(const nlohmann::json& object, std::string path, std::string noun = "spec field")
      : object_(object), path_(std::move(path)), noun_(std::move(noun)) {}

  Status CheckObject() const {
    if (!object_.is_object()) return Invalid(Name(""), "a JSON object");
    return {};
  }
  Status CheckKnown(std::initializer_list<const char*> known) const {
    std::set<std::string> names(known.begin(), known.end());
    for (const auto& [key, value] : object_.items()) {
      if (!names.count(key)) return Invalid(Name(key), "no such field (a known field name)");
    }
    return {};
  }
  const nlohmann::json* Find(const char* key) const {
    auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }
  std::string Name(const std::string& key) const {
    std::string full = path_.empty() ? key : (key.empty() ? path_ : path_ + "." + key);
    return fmt::format("{} `{}`", noun_, full);
  }
  std::string Child(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  Status String(const char* key, std::string& out) const {
    const nlohmann::json* v = Find(key);
    if (!v) return {};
    if (!v->is_string()) return Invalid(Name(key), "a string");
    out = v->get<std::string>();
    return {};
  }
  Status OptString(const char* key, std::optional<std::string>& out) const {
    const nlohmann::json* v = Find(key);
    if (!v) return {};
    if (!v->is_string()) return Invalid(Name(key), "a string or null");
    out = v->get<std::string>();
    return {};
  }
  Status Bool(const char* key, bool& out) const {
    const nlohmann::json* v = Find(key);
    if (!v) return {};
    if (!v->is_boolean()) return Invalid(Name(key), "true or false");
    out = v->get<bool>();
    return {};
  }
  template <class T>
  Status Unsigned(const char* key, std::optional<T>& out) const {
    const nlohmann::json* v = Find(key);
    if (!v) return {};
    // A non-negative integer built in C++ (not parsed from text) is stored as a signed one.
    bool non_negative =
        v->is_number_unsigned() || (v->is_number_integer() && v->get<std::int64_t>() >= 0);
    if (!non_negative || v->get<std::uint64_t>() > std::numeric_limits<T>::max()) {
      return Invalid(Name(key), "a non-negative integer");
    }
    out = v->get<T>();
    return {};
  }
  Status Seconds(const char* key, std::optional<double>& out) const {
    const nlohmann::json* v = Find(key);
    if (!v) return {};
    if (!v->is_number() || v->get<double>() <= 0) return Invalid(Name(key), "a positive number");
    out = v->get<double>();
    return {};
  }

 private:
  const nlohmann::json& object_;
  std::string path_;
  std::string noun_;
};

}  // namespace gaol
