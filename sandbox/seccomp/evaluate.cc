#include "sandbox/seccomp/evaluate.h"

#include <cstddef>
#include <cstring>

namespace gaol::seccomp {
namespace {

constexpr std::uint32_t kRefused = SECCOMP_RET_KILL_PROCESS;

// An ALU operation on A with `v` (K or X); false for what the kernel refuses: a division by
// zero, a shift by a constant of 32 or more. A shift by X takes its low 5 bits, as the kernel's
// 32-bit ALU does.
bool Alu(std::uint16_t op, std::uint32_t v, bool by_x, std::uint32_t& a) noexcept {
  switch (op) {
    case BPF_ADD:
      a += v;
      return true;
    case BPF_SUB:
      a -= v;
      return true;
    case BPF_MUL:
      a *= v;
      return true;
    case BPF_DIV:
      if (v == 0) return false;
      a /= v;
      return true;
    case BPF_MOD:
      if (v == 0) return false;
      a %= v;
      return true;
    case BPF_AND:
      a &= v;
      return true;
    case BPF_OR:
      a |= v;
      return true;
    case BPF_XOR:
      a ^= v;
      return true;
    case BPF_LSH:
    case BPF_RSH:
      if (!by_x && v >= 32) return false;
      v &= 31;
      a = op == BPF_LSH ? a << v : a >> v;
      return true;
    default:
      return false;
  }
}

// A conditional jump's test of A against `v`; false in `known` for an unknown operation.
bool Test(std::uint16_t op, std::uint32_t a, std::uint32_t v, bool& known) noexcept {
  known = true;
  switch (op) {
    case BPF_JEQ:
      return a == v;
    case BPF_JGT:
      return a > v;
    case BPF_JGE:
      return a >= v;
    case BPF_JSET:
      return (a & v) != 0;
    default:
      known = false;
      return false;
  }
}

}  // namespace

std::uint32_t Evaluate(std::span<const sock_filter> program, const seccomp_data& data) noexcept {
  const std::size_t n = program.size();
  if (n == 0 || n > BPF_MAXINSNS) return kRefused;
  std::uint32_t a = 0, x = 0;
  std::uint32_t mem[BPF_MEMWORDS] = {};
  for (std::size_t pc = 0; pc < n; ++pc) {
    const sock_filter& in = program[pc];
    const std::uint32_t k = in.k;
    const std::uint16_t cls = BPF_CLASS(in.code);
    switch (cls) {
      case BPF_LD:
      case BPF_LDX: {
        std::uint32_t v;
        if (in.code == (BPF_LD | BPF_W | BPF_ABS)) {
          // seccomp_data is read only in aligned 32-bit words.
          if (k >= sizeof(data) || k % 4 != 0) return kRefused;
          std::memcpy(&v, reinterpret_cast<const char*>(&data) + k, sizeof v);
        } else if (BPF_MODE(in.code) == BPF_LEN && BPF_SIZE(in.code) == BPF_W) {
          v = sizeof(data);
        } else if (BPF_MODE(in.code) == BPF_IMM) {
          v = k;
        } else if (BPF_MODE(in.code) == BPF_MEM) {
          if (k >= BPF_MEMWORDS) return kRefused;
          v = mem[k];
        } else {
          return kRefused;
        }
        (cls == BPF_LD ? a : x) = v;
        break;
      }
      case BPF_ST:
      case BPF_STX:
        if (k >= BPF_MEMWORDS) return kRefused;
        mem[k] = cls == BPF_ST ? a : x;
        break;
      case BPF_ALU:
        if (BPF_OP(in.code) == BPF_NEG) {
          a = 0u - a;
        } else if (bool by_x = BPF_SRC(in.code) == BPF_X;
                   !Alu(BPF_OP(in.code), by_x ? x : k, by_x, a)) {
          return kRefused;
        }
        break;
      case BPF_JMP: {
        std::size_t skip;
        if (BPF_OP(in.code) == BPF_JA) {
          skip = k;
        } else {
          bool known;
          bool taken = Test(BPF_OP(in.code), a, BPF_SRC(in.code) == BPF_X ? x : k, known);
          if (!known) return kRefused;
          skip = taken ? in.jt : in.jf;
        }
        if (skip >= n - pc - 1) return kRefused;  // past the last instruction
        pc += skip;
        break;
      }
      case BPF_RET:
        if (BPF_RVAL(in.code) == BPF_K) return k;
        if (BPF_RVAL(in.code) == BPF_A) return a;
        return kRefused;
      case BPF_MISC:
        if (BPF_MISCOP(in.code) == BPF_TAX) {
          x = a;
        } else if (BPF_MISCOP(in.code) == BPF_TXA) {
          a = x;
        } else {
          return kRefused;
        }
        break;
      default:
        return kRefused;
    }
  }
  return kRefused;  // fell off the end: the kernel requires a return last
}

bool Allows(const Filter& filter, const seccomp_data& data) noexcept {
  for (const auto* program : {&filter.overlay, &filter.main}) {
    if (program->empty()) continue;
    std::uint32_t action = Evaluate(*program, data) & SECCOMP_RET_ACTION_FULL;
    if (action != SECCOMP_RET_ALLOW && action != SECCOMP_RET_LOG) return false;
  }
  return true;
}

}  // namespace gaol::seccomp
