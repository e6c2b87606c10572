// gaol serve's HTTP layer against hostile clients, over raw sockets: bodies bounded while they
// arrive (chunked, unsized, any content type), slow clients that would hold every HTTP thread, and
// one client opening connection after connection. Only loopback addresses are used.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/serve_harness.h"

namespace gaol::it {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// A TCP connection to the server from the loopback address `from` (127.0.0.0/8 is all local).
int Connect(const ServeProcess& server, const char* from = "127.0.0.1") {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in local = {};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from, &local.sin_addr);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
  sockaddr_in remote = {};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<std::uint16_t>(server.Port()));
  inet_pton(AF_INET, server.Host().c_str(), &remote.sin_addr);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0);
  return fd;
}

// Sends what the server takes of `bytes` in `seconds` at most; false once it stopped taking any.
bool SendFor(int fd, const std::string& bytes, int seconds = 2) {
  std::size_t sent = 0;
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  while (sent < bytes.size() && Clock::now() < deadline) {
    pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return sent == bytes.size();
}

// What the server answered on `fd` until it closed or `seconds` passed.
std::string ReadReply(int fd, int seconds = 30) {
  std::string out;
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  char buf[65536];
  while (Clock::now() < deadline) {
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Whether the server has closed `fd` (a read sees end of file or a reset).
bool Closed(int fd) {
  pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  char c;
  return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

std::string StatusLine(const std::string& reply) { return reply.substr(0, reply.find("\r\n")); }

}  // namespace

TEST_CASE("serve: request bodies are bounded while they arrive, whatever their framing",
          "[serve-http]") {
  ServeProcess server({"--max-body", "1m"});
  long rss_before = server.RssKb();
  std::string chunk = "10000\r\n" + std::string(65536, ' ') + "\r\n";  // 64 KiB

  SECTION("chunked: 64 MiB in 64 KiB chunks is refused after the first MiB") {
    int fd = Connect(server);
    REQUIRE(SendFor(fd,
                    "POST /v1/run HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"));
    for (int i = 0; i < 1024 && SendFor(fd, chunk); ++i) {
    }
    std::string reply = ReadReply(fd);
    close(fd);
    CHECK_THAT(StatusLine(reply), Catch::Contains("413"));
    CHECK_THAT(reply, Catch::Contains("--max-body"));
  }
  SECTION("no length at all: read until the client closes, and refused the same way") {
    int fd = Connect(server);
    REQUIRE(SendFor(fd, "POST /v1/run HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    for (int i = 0; i < 64 && SendFor(fd, std::string(65536, ' ')); ++i) {
    }
    shutdown(fd, SHUT_WR);
    std::string reply = ReadReply(fd);
    close(fd);
    CHECK_THAT(StatusLine(reply), Catch::Contains("413"));
  }
  SECTION("a declared length over the cap is refused before it is read") {
    int fd = Connect(server);
    REQUIRE(SendFor(fd, "POST /v1/run HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n"));
    std::string reply = ReadReply(fd);
    close(fd);
    CHECK_THAT(StatusLine(reply), Catch::Contains("413"));
  }
  SECTION("gzip: 16 MiB that compress to a few KiB are counted as they are decoded") {
    std::string packed;
    std::string plain(16 << 20, ' ');
    httplib::detail::gzip_compressor gzip;
    REQUIRE(gzip.compress(plain.data(), plain.size(), true, [&](const char* data, std::size_t n) {
      packed.append(data, n);
      return true;
    }));
    REQUIRE(packed.size() < (1 << 20));  // under the cap as sent: only decoding finds it over
    int fd = Connect(server);
    REQUIRE(SendFor(fd,
                    "POST /v1/run HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\n"
                    "Content-Length: " +
                        std::to_string(packed.size()) + "\r\n\r\n" + packed));
    std::string reply = ReadReply(fd);
    close(fd);
    CHECK_THAT(StatusLine(reply), Catch::Contains("413"));
  }
  // Nothing of the refused bodies stays in the server (the cap is 1 MiB; 8 MiB is slack). Under
  // ASan freed memory sits in its quarantine: the plain run checks this.
  if (!Sanitized()) CHECK(server.RssKb() - rss_before < 8 * 1024);
  CHECK(server.Stop() == 0);
}

TEST_CASE("serve: a JSON body is read whatever its content type; forms are 415", "[serve-http]") {
  ServeProcess server;
  auto client = server.Client();
  // 20 KiB, over cpp-httplib's 8 KiB cap for form bodies: curl -d sends this content type.
  json body = {{"command", {"/bin/cat", "big"}},
               {"files", {{{"path", "big"}, {"content", std::string(20000, 'x')}}}}};
  auto res = client.Post("/v1/run", body.dump(), "application/x-www-form-urlencoded");
  REQUIRE(res);
  CHECK(res->status == 200);
  auto result = json::parse(res->body, nullptr, false);
  REQUIRE(result.is_object());
  CHECK(result["status"] == "ok");
  CHECK(result["stdout"]["content"].get<std::string>().size() == 20000);

  httplib::MultipartFormDataItems form = {{"spec", body.dump(), "", "application/json"}};
  auto multipart = client.Post("/v1/run", form);
  REQUIRE(multipart);
  CHECK(multipart->status == 415);
  CHECK_THAT(multipart->body, Catch::Contains("application/json"));
  CHECK(server.Stop() == 0);
}

TEST_CASE("serve: slow clients are cut off and one client cannot take every connection",
          "[serve-http]") {
  // 1 + 1 + 8 = 10 HTTP threads; 12 connections dripping a byte a second would hold them all.
  ServeProcess server({"--max-concurrent", "1", "--max-queue", "1", "--request-timeout", "2s",
                       "--max-client-connections", "4"});
  std::vector<int> slow;
  for (const char* from : {"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
    for (int i = 0; i < 4; ++i) {
      int fd = Connect(server, from);
      REQUIRE(SendFor(fd, "POST /v1/run HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"));
      slow.push_back(fd);
    }
  }
  // A fifth connection from one of them is answered at once: 429.
  int greedy = Connect(server, "127.0.0.2");
  std::string refused = ReadReply(greedy, 10);
  close(greedy);
  CHECK_THAT(StatusLine(refused), Catch::Contains("429"));
  CHECK_THAT(refused, Catch::Contains("--max-client-connections"));

  std::atomic<bool> stop{false};
  std::thread drip([&] {
    while (!stop) {
      for (int fd : slow) (void)!send(fd, "{", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });
  // Another client is served although the slow ones keep sending; each slow one is cut off.
  auto client = server.Client();
  client.set_keep_alive(false);  // an idle kept-alive connection would be cut (and counted) too
  auto health = Get(client, "/healthz");
  CHECK(health.status == 200);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  std::size_t closed = 0;
  while (closed < slow.size() && Clock::now() < deadline) {
    closed = 0;
    for (int fd : slow) closed += Closed(fd) ? 1 : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  drip.join();
  CHECK(closed == slow.size());
  for (int fd : slow) close(fd);
  auto metrics = Get(client, "/metrics");
  CHECK_THAT(metrics.text, Catch::Contains("reason=\"client_connections\"} 1"));
  CHECK_THAT(metrics.text, Catch::Contains("reason=\"request_timeout\"} 12"));
  CHECK(server.Stop() == 0);
}

TEST_CASE("serve: finished async results are kept within --kept-results bytes", "[serve-http]") {
  ServeProcess server({"--kept-results", "1m", "--max-concurrent", "1"});
  auto client = server.Client();
  // Each result carries 400 KB of stdout (spaces: JSON keeps them as they are): the third pushes
  // the first out.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    Reply made = Post(client, "/v1/jobs", {{"command", {"/bin/sh", "-c", "printf '%400000s' ''"}}});
    REQUIRE(made.status == 202);
    std::string id = made.body["id"];
    ids.push_back(id);
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Get(client, "/v1/jobs/" + id).body["state"] != "done" && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  Reply first = Get(client, "/v1/jobs/" + ids[0]);
  CHECK(first.status == 404);
  CHECK_THAT(first.text, Catch::Contains("--kept-results"));
  for (int i = 1; i < 3; ++i) {
    Reply kept = Get(client, "/v1/jobs/" + ids[i]);
    CHECK(kept.status == 200);
    CHECK(kept.body["result"]["status"] == "ok");
  }
  // DELETE gives the bytes back: a fourth is kept beside the third.
  CHECK(Delete(client, "/v1/jobs/" + ids[1]).status == 200);
  Reply fourth = Post(client, "/v1/run", {{"command", {"/bin/true"}}});
  CHECK(fourth.status == 200);
  CHECK(Get(client, "/v1/jobs/" + ids[2]).status == 200);
  CHECK(server.Stop() == 0);
}

}  // namespace gaol::it
