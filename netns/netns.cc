#include "netns/netns.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace gaol::netns {
namespace {

constexpr int kLoopbackIndex = 1;

struct LinkRequest {
  nlmsghdr header;
  ifinfomsg info;
};

int AwaitAck(int fd, unsigned seq) noexcept {
  alignas(nlmsghdr) char buf[1024];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    // NLMSG_OK/NLMSG_NEXT by hand: the macros compare the header's u32 with an int.
    auto got = static_cast<std::size_t>(n);
    for (std::size_t at = 0; at + sizeof(nlmsghdr) <= got;) {
      auto* h = reinterpret_cast<nlmsghdr*>(buf + at);
      if (h->nlmsg_len < sizeof(nlmsghdr) || h->nlmsg_len > got - at) break;
      at += NLMSG_ALIGN(h->nlmsg_len);
      if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR) continue;
      auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
      return -err->error;  // 0 is the ACK
    }
  }
}

}  // namespace

int BringUpLoopbackInChild() noexcept {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errno;
  LinkRequest req = {};
  req.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  req.header.nlmsg_type = RTM_NEWLINK;
  req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.header.nlmsg_seq = 1;
  req.info.ifi_family = AF_UNSPEC;
  req.info.ifi_index = kLoopbackIndex;
  req.info.ifi_flags = IFF_UP;
  req.info.ifi_change = IFF_UP;
  sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  int rc = 0;
  if (sendto(fd, &req, req.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof(kernel)) < 0) {
    rc = errno;
  } else {
    rc = AwaitAck(fd, req.header.nlmsg_seq);
  }
  close(fd);
  return rc;
}

}  // namespace gaol::netns
