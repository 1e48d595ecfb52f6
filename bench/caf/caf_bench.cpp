// CAF 0.17 peer for `make bench`.
//
//   caf_bench <benchmark> [N]
//   caf_bench --info
//
// prints on stdout one line `RESULT <benchmark> <value> <unit>` (and, for some
// benchmarks, further `RESULT <benchmark>_<metric> ...` lines: peak RSS,
// allocator view, CPU per operation), and exits non-zero when the work was not
// done correctly (every benchmark checks its own counts/totals); --info prints
// `INFO` lines (compiler, flags, CAF version, worker threads).  Workloads and
// parameters are described in bench/README.md and are identical in the Erlang
// peer and in aurum_bench.
//
// Fairness: the default CAF scheduler (work stealing) with
// scheduler.max-threads = nproc (CAF 0.17 would otherwise use max(nproc, 4)).
// Nothing else is tuned.

#include "caf/all.hpp"
#include "caf/io/all.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using go_atom = caf::atom_constant<caf::atom("bgo")>;
using done_atom = caf::atom_constant<caf::atom("bdone")>;
using next_atom = caf::atom_constant<caf::atom("bnext")>;
using fin_atom = caf::atom_constant<caf::atom("bfin")>;
using ack_atom = caf::atom_constant<caf::atom("back")>;
using stop_atom = caf::atom_constant<caf::atom("bstop")>;
using hello_atom = caf::atom_constant<caf::atom("bhello")>;
using cpu_atom = caf::atom_constant<caf::atom("bcpu")>;
using more_atom = caf::atom_constant<caf::atom("bmore")>;

constexpr uint32_t ring_size = 100;         // threadring
constexpr uint32_t fj_workers = 60;         // fjthrput
constexpr uint64_t idle_batch = 1000;       // idle: liveness pings in flight
constexpr size_t payload_size = 100;        // remote_*
constexpr uint64_t window = 10000;          // remote_throughput: max un-acked
constexpr uint64_t ack_every = 1000;        // remote_throughput: receiver acks
constexpr uint64_t warmup_round_trips = 1000; // remote_pingpong, untimed
constexpr uint64_t warmup_messages = 10000;   // remote_throughput, untimed
constexpr uint32_t fanin_producers = 1000;  // fanin
constexpr uint64_t fanin_burst = 100;       // fanin: messages per producer turn

// ---------------------------------------------------------------- helpers --

volatile pid_t g_child = -1;

void kill_child() {
  pid_t c = g_child;
  if (c > 0) {
    kill(c, SIGKILL);
    waitpid(c, nullptr, 0);
    g_child = -1;
  }
}

[[noreturn]] void fail(const std::string& why) {
  fprintf(stderr, "caf_bench: FAILED: %s\n", why.c_str());
  fflush(stderr);
  kill_child();
  std::_Exit(1);
}

extern "C" void on_fatal_signal(int sig) {
  pid_t c = g_child;
  if (c > 0)
    kill(c, SIGKILL);
  const char msg[] = "caf_bench: timeout or signal, giving up\n";
  ssize_t r = write(2, msg, sizeof msg - 1);
  (void) r;
  _exit(sig == SIGALRM ? 124 : 128 + sig);
}

void install_timeout() {
  unsigned secs = 600;
  if (const char* t = getenv("BENCH_TIMEOUT"))
    secs = static_cast<unsigned>(strtoul(t, nullptr, 10));
  signal(SIGALRM, on_fatal_signal);
  signal(SIGTERM, on_fatal_signal);
  signal(SIGINT, on_fatal_signal);
  if (secs > 0)
    alarm(secs);
}

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

int64_t nproc() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    return CPU_COUNT(&set);
  return static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN));
}

// Resident set size in bytes (VmRSS of /proc/self/status).
uint64_t rss_bytes() {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f)
    fail("cannot open /proc/self/status");
  char line[256];
  uint64_t kb = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      kb = strtoull(line + 6, nullptr, 10);
  fclose(f);
  if (kb == 0)
    fail("no VmRSS");
  return kb * 1024;
}

// Peak resident set of the process (getrusage ru_maxrss), in bytes.
uint64_t peak_rss_bytes() {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    fail("getrusage");
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

// Bytes held from malloc (mallinfo2: uordblks + hblkhd, all arenas).
uint64_t heap_bytes() {
  struct mallinfo2 mi = mallinfo2();
  return static_cast<uint64_t>(mi.uordblks) + static_cast<uint64_t>(mi.hblkhd);
}

// User + system CPU time of the process (getrusage RUSAGE_SELF), in ns.
uint64_t cpu_ns() {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    fail("getrusage");
  auto us = [](const timeval& tv) {
    return static_cast<uint64_t>(tv.tv_sec) * 1000000u
           + static_cast<uint64_t>(tv.tv_usec);
  };
  return (us(ru.ru_utime) + us(ru.ru_stime)) * 1000u;
}

constexpr double mib = 1024.0 * 1024.0;

void result(const char* bench, double value, const char* unit) {
  printf("RESULT %s %.2f %s\n", bench, value, unit);
  fflush(stdout);
}

void configure(caf::actor_system_config& cfg, bool with_io) {
  cfg.set("scheduler.max-threads", nproc());
  if (with_io)
    cfg.load<caf::io::middleman>();
}

template <class... Ts>
void receive_or_fail(caf::scoped_actor& self, Ts&&... xs) {
  self->receive(std::forward<Ts>(xs)...,
                caf::after(std::chrono::seconds(600)) >>
                  [] { fail("no answer within 600 s"); });
}

// -------------------------------------------------------------- pingpong --

struct ping_state {
  uint64_t n = 0;
  uint64_t got = 0;
  caf::actor pong;
  caf::actor report;
};

caf::behavior pong_actor(caf::event_based_actor*) {
  return {
    [](uint64_t x) { return x; }, // the reply goes back to the sender
  };
}

caf::behavior ping_actor(caf::stateful_actor<ping_state>* self,
                         caf::actor pong, uint64_t n, caf::actor report) {
  self->state.n = n;
  self->state.pong = std::move(pong);
  self->state.report = std::move(report);
  return {
    [=](go_atom) { self->send(self->state.pong, uint64_t{0}); },
    [=](uint64_t x) {
      auto& s = self->state;
      if (x != s.got)
        fail("pingpong: out-of-order reply");
      if (++s.got == s.n) {
        self->send(s.report, done_atom::value, s.got);
        self->quit();
        return;
      }
      self->send(s.pong, s.got);
    },
  };
}

void bench_pingpong(caf::actor_system& sys, uint64_t n) {
  caf::scoped_actor self{sys};
  auto pong = sys.spawn(pong_actor);
  auto ping = sys.spawn(ping_actor, pong, n, caf::actor{self});
  uint64_t got = 0;
  double t0 = now_s();
  self->send(ping, go_atom::value);
  receive_or_fail(self, [&](done_atom, uint64_t c) { got = c; });
  double t1 = now_s();
  if (got != n)
    fail("pingpong: wrong round-trip count");
  caf::anon_send_exit(pong, caf::exit_reason::user_shutdown);
  result("pingpong", (t1 - t0) * 1e9 / static_cast<double>(n), "ns/rt");
}

// ----------------------------------------------------------------- count --

struct counter_state {
  uint64_t count = 0;
  uint64_t sum = 0;
};

caf::behavior counter_actor(caf::stateful_actor<counter_state>* self) {
  return {
    [=](uint64_t x) {
      self->state.count += 1;
      self->state.sum += x;
    },
    [=](fin_atom, const caf::actor& report) {
      self->send(report, done_atom::value, self->state.count, self->state.sum);
      self->quit();
    },
  };
}

void producer_actor(caf::event_based_actor* self, caf::actor counter,
                    uint64_t n, caf::actor report) {
  for (uint64_t i = 0; i < n; ++i)
    self->send(counter, i);
  self->send(counter, fin_atom::value, report);
}

void bench_count(caf::actor_system& sys, uint64_t n) {
  caf::scoped_actor self{sys};
  uint64_t count = 0, sum = 0;
  double t0 = now_s();
  auto counter = sys.spawn(counter_actor);
  sys.spawn(producer_actor, counter, n, caf::actor{self});
  receive_or_fail(self, [&](done_atom, uint64_t c, uint64_t s) {
    count = c;
    sum = s;
  });
  double t1 = now_s();
  if (count != n || sum != n * (n - 1) / 2)
    fail("count: wrong count or total");
  result("count", static_cast<double>(n) / (t1 - t0), "msg/s");
  result("count_peak_rss", static_cast<double>(peak_rss_bytes()) / mib, "MiB");
}

// ------------------------------------------------------------ threadring --

struct ring_state {
  uint32_t id = 0;
  caf::actor next;
  caf::actor report;
};

caf::behavior ring_actor(caf::stateful_actor<ring_state>* self, uint32_t id,
                         caf::actor report) {
  self->state.id = id;
  self->state.report = std::move(report);
  return {
    [=](next_atom, caf::actor next) { self->state.next = std::move(next); },
    [=](uint64_t token) {
      if (token == 0)
        self->send(self->state.report, done_atom::value, self->state.id);
      else
        self->send(self->state.next, token - 1);
    },
  };
}

void bench_threadring(caf::actor_system& sys, uint64_t n) {
  caf::scoped_actor self{sys};
  std::vector<caf::actor> ring;
  for (uint32_t i = 0; i < ring_size; ++i)
    ring.push_back(sys.spawn(ring_actor, i, caf::actor{self}));
  for (uint32_t i = 0; i < ring_size; ++i)
    self->send(ring[i], next_atom::value, ring[(i + 1) % ring_size]);
  uint32_t last = UINT32_MAX;
  double t0 = now_s();
  self->send(ring[0], n); // actor k receives token n-k; token 0 ends it
  receive_or_fail(self, [&](done_atom, uint32_t id) { last = id; });
  double t1 = now_s();
  for (auto& a : ring)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  if (last != n % ring_size)
    fail("threadring: token ended at the wrong actor");
  result("threadring", (t1 - t0) * 1e9 / static_cast<double>(n), "ns/hop");
}

// -------------------------------------------------------------- fjcreate --

caf::behavior fj_worker(caf::event_based_actor* self) {
  return {
    [=](uint64_t x) {
      self->quit();
      return x; // one message, a reply, then the actor is gone
    },
  };
}

struct collect_state {
  uint64_t expect = 0;
  uint64_t count = 0;
  uint64_t sum = 0;
  caf::actor report;
};

// Receives integers; once `expect` have arrived it reports (count, sum) to
// the driver.  It stays alive (the driver ends it), so that the driver can
// wait for exactly the workers to be gone.
caf::behavior collect_actor(caf::stateful_actor<collect_state>* self,
                            uint64_t expect, caf::actor report) {
  self->state.expect = expect;
  self->state.report = std::move(report);
  return {
    [=](uint64_t x) {
      auto& s = self->state;
      s.count += 1;
      s.sum += x;
      if (s.count == s.expect)
        self->send(s.report, done_atom::value, s.count, s.sum);
    },
  };
}

// The driver is the main thread (as in Savina): it spawns N workers through
// the actor system and sends each one message on behalf of the collector
// (send_as), so the worker's reply goes to the collector, as in aurum and
// Erlang; after the collector's report it waits until every worker has
// exited (the registry's count of running actors is back where it was).
// Note: spawning from inside an actor (`self->spawn`) in CAF 0.17 queues
// the children on the parent's worker and scaled super-linearly here
// (~9k actors/s at N=100k), so the system-level spawn is used.
void bench_fjcreate(caf::actor_system& sys, uint64_t n) {
  caf::scoped_actor self{sys};
  auto collector = sys.spawn(collect_actor, n, caf::actor{self});
  size_t running = sys.registry().running();
  uint64_t got = 0, sum = 0;
  double t0 = now_s();
  for (uint64_t i = 0; i < n; ++i) {
    auto w = sys.spawn(fj_worker);
    caf::send_as(collector, w, i);
  }
  receive_or_fail(self, [&](done_atom, uint64_t c, uint64_t s) {
    got = c;
    sum = s;
  });
  sys.registry().await_running_count_equal(running);
  double t1 = now_s();
  caf::anon_send_exit(collector, caf::exit_reason::user_shutdown);
  if (got != n || sum != n * (n - 1) / 2)
    fail("fjcreate: wrong number of terminated workers");
  result("fjcreate", static_cast<double>(n) / (t1 - t0), "actors/s");
}

// -------------------------------------------------------------- fjthrput --

struct tp_state {
  uint64_t n = 0;
  uint64_t got = 0;
  uint64_t sum = 0;
  caf::actor report;
};

caf::behavior tp_worker(caf::stateful_actor<tp_state>* self, uint64_t n,
                        caf::actor report) {
  self->state.n = n;
  self->state.report = std::move(report);
  return {
    [=](uint64_t x) {
      auto& s = self->state;
      s.sum += x;
      if (++s.got == s.n) {
        self->send(s.report, done_atom::value, s.got, s.sum);
        self->quit();
      }
    },
  };
}

void tp_sender(caf::event_based_actor* self, std::vector<caf::actor> ws,
               uint64_t per_worker) {
  uint64_t total = per_worker * ws.size();
  for (uint64_t i = 0; i < total; ++i)
    self->send(ws[i % ws.size()], i); // round-robin
}

void bench_fjthrput(caf::actor_system& sys, uint64_t n) {
  caf::scoped_actor self{sys};
  uint64_t total = n * fj_workers;
  double t0 = now_s();
  std::vector<caf::actor> ws;
  for (uint32_t i = 0; i < fj_workers; ++i)
    ws.push_back(sys.spawn(tp_worker, n, caf::actor{self}));
  sys.spawn(tp_sender, ws, n);
  uint64_t sum = 0;
  for (uint32_t i = 0; i < fj_workers; ++i)
    receive_or_fail(self, [&](done_atom, uint64_t g, uint64_t s) {
      if (g != n)
        fail("fjthrput: worker saw the wrong number of messages");
      sum += s;
    });
  double t1 = now_s();
  if (sum != total * (total - 1) / 2)
    fail("fjthrput: wrong total");
  result("fjthrput", static_cast<double>(total) / (t1 - t0), "msg/s");
}

// ------------------------------------------------------------------ idle --

caf::behavior idle_actor(caf::event_based_actor*) {
  return {
    [](uint64_t x) { return x; },
  };
}

void bench_idle(caf::actor_system& sys, uint64_t n) {
  caf::scoped_actor self{sys};
  uint64_t before = rss_bytes(), heap_before = heap_bytes();
  // The driver's N handles (8 bytes each) are allocated after the first
  // reading: counted, as in aurum and Erlang (bench/README.md).
  std::vector<caf::actor> actors;
  actors.reserve(n);
  for (uint64_t i = 0; i < n; ++i)
    actors.push_back(sys.spawn(idle_actor));
  // Liveness check in batches (at most idle_batch messages in flight, so
  // that freed message memory does not inflate the figure): every actor
  // answers once and is then idle.
  uint64_t sum = 0;
  for (uint64_t lo = 0; lo < n; lo += idle_batch) {
    uint64_t hi = std::min(n, lo + idle_batch);
    for (uint64_t i = lo; i < hi; ++i)
      self->send(actors[i], i);
    for (uint64_t i = lo; i < hi; ++i)
      receive_or_fail(self, [&](uint64_t x) { sum += x; });
  }
  uint64_t after = rss_bytes(), heap_after = heap_bytes();
  if (sum != n * (n - 1) / 2)
    fail("idle: not every actor answered");
  for (auto& a : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  auto per = [n](uint64_t a, uint64_t b) {
    return (static_cast<double>(b) - static_cast<double>(a))
           / static_cast<double>(n);
  };
  result("idle", per(before, after), "bytes/actor");
  result("idle_alloc", per(heap_before, heap_after), "bytes/actor");
}

// ----------------------------------------------------------------- fanin --

// 1,000 producers stream N messages in total to one consumer: producer p
// sends (p, 0), (p, 1), ... (p, share(p) - 1), at most fanin_burst per turn,
// then a `more` message to itself.  The consumer checks each producer's order
// and completeness and reports after N messages.  Time: the first `go` (all
// actors spawned before the clock) to the report.

uint64_t fanin_share(uint64_t n, uint32_t p) {
  return n / fanin_producers + (p < n % fanin_producers ? 1 : 0);
}

struct fanin_consumer_state {
  uint64_t n = 0;
  uint64_t count = 0;
  uint64_t out_of_order = 0;
  std::vector<uint64_t> next; // the sequence number expected next, per producer
  caf::actor report;
};

caf::behavior fanin_consumer(caf::stateful_actor<fanin_consumer_state>* self,
                             uint64_t n, caf::actor report) {
  auto& st = self->state;
  st.n = n;
  st.next.assign(fanin_producers, 0);
  st.report = std::move(report);
  return {
    [=](uint32_t p, uint64_t seq) {
      auto& s = self->state;
      if (p >= fanin_producers || seq != s.next[p])
        s.out_of_order += 1;
      else
        s.next[p] += 1;
      if (++s.count == s.n) {
        uint64_t incomplete = 0;
        for (uint32_t i = 0; i < fanin_producers; ++i)
          if (s.next[i] != fanin_share(s.n, i))
            ++incomplete;
        self->send(s.report, done_atom::value, s.count, s.out_of_order,
                   incomplete);
      }
    },
  };
}

struct fanin_producer_state {
  uint32_t id = 0;
  uint64_t share = 0;
  uint64_t sent = 0;
  caf::actor consumer;
};

caf::behavior fanin_producer(caf::stateful_actor<fanin_producer_state>* self,
                             uint32_t id, uint64_t share, caf::actor consumer) {
  auto& st = self->state;
  st.id = id;
  st.share = share;
  st.consumer = std::move(consumer);
  auto burst = [self] {
    auto& s = self->state;
    for (uint64_t k = 0; k < fanin_burst && s.sent < s.share; ++k) {
      self->send(s.consumer, s.id, s.sent);
      ++s.sent;
    }
    if (s.sent < s.share)
      self->send(self, more_atom::value);
    else
      self->quit();
  };
  return {
    [=](go_atom) { burst(); },
    [=](more_atom) { burst(); },
  };
}

void bench_fanin(caf::actor_system& sys, uint64_t n) {
  if (n < fanin_producers)
    fail("fanin: N must be at least 1000");
  caf::scoped_actor self{sys};
  auto consumer = sys.spawn(fanin_consumer, n, caf::actor{self});
  std::vector<caf::actor> producers;
  for (uint32_t i = 0; i < fanin_producers; ++i)
    producers.push_back(
      sys.spawn(fanin_producer, i, fanin_share(n, i), consumer));
  uint64_t count = 0, out_of_order = 0, incomplete = 0;
  double t0 = now_s();
  for (auto& p : producers)
    self->send(p, go_atom::value);
  receive_or_fail(self, [&](done_atom, uint64_t c, uint64_t o, uint64_t i) {
    count = c;
    out_of_order = o;
    incomplete = i;
  });
  double t1 = now_s();
  if (count != n || out_of_order != 0 || incomplete != 0)
    fail("fanin: wrong count, order or completeness");
  caf::anon_send_exit(consumer, caf::exit_reason::user_shutdown);
  result("fanin", static_cast<double>(n) / (t1 - t0), "msg/s");
  result("fanin_peak_rss", static_cast<double>(peak_rss_bytes()) / mib, "MiB");
}

// --------------------------------------------------------------- remote --

// Child side: publish a pong (remote_pingpong) or a sink (remote_throughput)
// on 127.0.0.1 with an OS-chosen port, print `PORT <p>` on stdout, and run
// until the parent sends bstop.  Both answer (bcpu) with the process's CPU
// time in ns, so that the parent can charge both processes' CPU to the timed
// session.

caf::behavior remote_pong(caf::event_based_actor* self) {
  return {
    [](uint64_t seq, const std::string& payload) {
      return std::make_tuple(seq, payload);
    },
    [](hello_atom) { return hello_atom::value; },
    [](cpu_atom) { return cpu_ns(); },
    [=](stop_atom) { self->quit(); },
  };
}

struct sink_state {
  uint64_t count = 0;
  uint64_t bytes = 0;
  bool in_order = true;
};

// remote_throughput receiver: counts messages and bytes; after every
// ack_every messages it sends (back, count) to the sender; on (bfin) it
// replies (bfin, count, bytes, in_order) and counts the next session from
// zero.
caf::behavior remote_sink(caf::stateful_actor<sink_state>* self) {
  return {
    [=](uint64_t seq, const std::string& payload) {
      auto& s = self->state;
      if (seq != s.count)
        s.in_order = false;
      s.count += 1;
      s.bytes += payload.size();
      if (s.count % ack_every == 0)
        self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                   ack_atom::value, s.count);
    },
    [=](fin_atom) {
      auto& s = self->state;
      auto r = std::make_tuple(fin_atom::value, s.count, s.bytes, s.in_order);
      s = sink_state{};
      return r;
    },
    [](hello_atom) { return hello_atom::value; },
    [](cpu_atom) { return cpu_ns(); },
    [=](stop_atom) { self->quit(); },
  };
}

int child_main(const std::string& role) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1)
    return 1;
  caf::actor_system_config cfg;
  configure(cfg, true);
  caf::actor_system sys{cfg};
  caf::actor a;
  if (role == "remote_pingpong")
    a = sys.spawn(remote_pong);
  else if (role == "remote_throughput")
    a = sys.spawn(remote_sink);
  else
    fail("unknown child role " + role);
  auto port = sys.middleman().publish(a, 0, "127.0.0.1");
  if (!port)
    fail("publish failed: " + sys.render(port.error()));
  printf("PORT %u\n", static_cast<unsigned>(*port));
  fflush(stdout);
  caf::scoped_actor self{sys};
  self->wait_for(a);
  return 0;
}

// Parent side: fork/exec this binary as `caf_bench --child <role>`, read the
// port it published on.
uint16_t start_child(const char* self_exe, const std::string& role) {
  int fds[2];
  if (pipe(fds) != 0)
    fail("pipe");
  pid_t pid = fork();
  if (pid < 0)
    fail("fork");
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl(self_exe, "caf_bench", "--child", role.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  g_child = pid;
  close(fds[1]);
  std::string line;
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    int r = poll(&p, 1, 30000);
    if (r <= 0)
      fail("child did not report its port within 30 s");
    char c;
    ssize_t k = read(fds[0], &c, 1);
    if (k <= 0)
      fail("child exited before reporting its port");
    if (c == '\n')
      break;
    line += c;
  }
  close(fds[0]);
  unsigned port = 0;
  if (sscanf(line.c_str(), "PORT %u", &port) != 1 || port == 0 || port > 65535)
    fail("bad port line from child: " + line);
  return static_cast<uint16_t>(port);
}

void stop_child() {
  pid_t c = g_child;
  if (c <= 0)
    return;
  for (int i = 0; i < 100; ++i) { // up to 10 s for a clean exit
    int st = 0;
    pid_t r = waitpid(c, &st, WNOHANG);
    if (r == c) {
      g_child = -1;
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail("child exited abnormally");
      return;
    }
    usleep(100000);
  }
  fprintf(stderr, "caf_bench: child did not exit, killing it\n");
  kill_child();
}

caf::actor connect(caf::actor_system& sys, uint16_t port) {
  auto x = sys.middleman().remote_actor("127.0.0.1", port);
  if (!x)
    fail("remote_actor failed: " + sys.render(x.error()));
  // One untimed handshake round trip, so that connection and proxy set-up
  // on both sides is not part of the measurement.
  caf::scoped_actor self{sys};
  self->request(*x, std::chrono::seconds(30), hello_atom::value)
    .receive([](hello_atom) {},
             [&](caf::error& err) {
               fail("handshake failed: " + sys.render(err));
             });
  return *x;
}

// The child's CPU time in ns (its answer to bcpu).
uint64_t child_cpu_ns(caf::actor_system& sys, const caf::actor& child) {
  caf::scoped_actor self{sys};
  uint64_t ns = 0;
  self->request(child, std::chrono::seconds(30), cpu_atom::value)
    .receive([&](uint64_t x) { ns = x; },
             [&](caf::error& err) {
               fail("cpu request failed: " + sys.render(err));
             });
  return ns;
}

struct rping_state {
  uint64_t n = 0;
  uint64_t got = 0;
  std::string payload;
  caf::actor pong;
  caf::actor report;
};

// Runs sessions: (bgo, n) starts n round trips counted from zero; after the
// n-th the ping reports (bdone, n) and waits for the next (bgo, n).
caf::behavior remote_ping(caf::stateful_actor<rping_state>* self,
                          caf::actor pong, caf::actor report) {
  auto& s = self->state;
  s.payload.assign(payload_size, 'x');
  s.pong = std::move(pong);
  s.report = std::move(report);
  return {
    [=](go_atom, uint64_t n) {
      self->state.n = n;
      self->state.got = 0;
      self->send(self->state.pong, uint64_t{0}, self->state.payload);
    },
    [=](uint64_t seq, const std::string& payload) {
      auto& s = self->state;
      if (seq != s.got || payload.size() != payload_size)
        fail("remote_pingpong: bad reply");
      if (++s.got == s.n) {
        self->send(s.report, done_atom::value, s.got);
        return;
      }
      self->send(s.pong, s.got, s.payload);
    },
  };
}

void bench_remote_pingpong(const char* exe, uint64_t n) {
  uint16_t port = start_child(exe, "remote_pingpong");
  {
    caf::actor_system_config cfg;
    configure(cfg, true);
    caf::actor_system sys{cfg};
    auto pong = connect(sys, port);
    caf::scoped_actor self{sys};
    auto ping = sys.spawn(remote_ping, pong, caf::actor{self});
    auto session = [&](uint64_t k) {
      uint64_t got = 0;
      self->send(ping, go_atom::value, k);
      receive_or_fail(self, [&](done_atom, uint64_t c) { got = c; });
      if (got != k)
        fail("remote_pingpong: wrong round-trip count");
    };
    session(warmup_round_trips);
    uint64_t child0 = child_cpu_ns(sys, pong);
    uint64_t self0 = cpu_ns();
    double t0 = now_s();
    session(n);
    double t1 = now_s();
    uint64_t self1 = cpu_ns();
    uint64_t child1 = child_cpu_ns(sys, pong);
    caf::anon_send_exit(ping, caf::exit_reason::user_shutdown);
    self->send(pong, stop_atom::value);
    stop_child();
    result("remote_pingpong", (t1 - t0) * 1e6 / static_cast<double>(n),
           "us/rt");
    result("remote_pingpong_cpu",
           static_cast<double>((self1 - self0) + (child1 - child0)) / 1e3
             / static_cast<double>(n),
           "cpu-us/rt");
  }
}

struct source_state {
  uint64_t n = 0;
  uint64_t sent = 0;
  uint64_t acked = 0;
  bool fin_sent = false;
  std::string payload;
  caf::actor sink;
  caf::actor report;
};

// remote_throughput sender: keeps at most `window` messages un-acked
// (sent - acked < window), acks are cumulative counts sent by the receiver
// every `ack_every` messages; after the last message it sends (bfin) and
// waits for (bfin, count, bytes, in_order).  Runs sessions: (bgo, n) starts
// n messages counted from zero (a session's acks all arrive before its fin
// reply, so none is left over for the next).
caf::behavior remote_source(caf::stateful_actor<source_state>* self,
                            caf::actor sink, caf::actor report) {
  auto& st = self->state;
  st.payload.assign(payload_size, 'x');
  st.sink = std::move(sink);
  st.report = std::move(report);
  auto pump = [self] {
    auto& s = self->state;
    while (s.sent < s.n && s.sent - s.acked < window) {
      self->send(s.sink, s.sent, s.payload);
      ++s.sent;
    }
    if (s.sent == s.n && !s.fin_sent) {
      s.fin_sent = true;
      self->send(s.sink, fin_atom::value);
    }
  };
  return {
    [=](go_atom, uint64_t n) {
      auto& s = self->state;
      s.n = n;
      s.sent = s.acked = 0;
      s.fin_sent = false;
      pump();
    },
    [=](ack_atom, uint64_t count) {
      if (count > self->state.acked)
        self->state.acked = count;
      pump();
    },
    [=](fin_atom, uint64_t count, uint64_t bytes, bool in_order) {
      self->send(self->state.report, done_atom::value, count, bytes,
                 in_order);
    },
  };
}

void bench_remote_throughput(const char* exe, uint64_t n) {
  uint16_t port = start_child(exe, "remote_throughput");
  {
    caf::actor_system_config cfg;
    configure(cfg, true);
    caf::actor_system sys{cfg};
    auto sink = connect(sys, port);
    caf::scoped_actor self{sys};
    auto src = sys.spawn(remote_source, sink, caf::actor{self});
    auto session = [&](uint64_t k) {
      uint64_t count = 0, bytes = 0;
      bool in_order = false;
      self->send(src, go_atom::value, k);
      receive_or_fail(self, [&](done_atom, uint64_t c, uint64_t b, bool o) {
        count = c;
        bytes = b;
        in_order = o;
      });
      if (count != k || bytes != k * payload_size || !in_order)
        fail("remote_throughput: receiver confirmed the wrong count");
    };
    session(warmup_messages);
    uint64_t child0 = child_cpu_ns(sys, sink);
    uint64_t self0 = cpu_ns();
    double t0 = now_s();
    session(n);
    double t1 = now_s();
    uint64_t self1 = cpu_ns();
    uint64_t child1 = child_cpu_ns(sys, sink);
    caf::anon_send_exit(src, caf::exit_reason::user_shutdown);
    self->send(sink, stop_atom::value);
    stop_child();
    result("remote_throughput", static_cast<double>(n) / (t1 - t0), "msg/s");
    result("remote_throughput_cpu",
           static_cast<double>((self1 - self0) + (child1 - child0)) / 1e3
             / static_cast<double>(n),
           "cpu-us/msg");
  }
}

// ------------------------------------------------------------------ main --

struct bench_def {
  const char* name;
  uint64_t default_n;
  void (*local)(caf::actor_system&, uint64_t);
  void (*remote)(const char*, uint64_t);
};

const bench_def benches[] = {
  {"pingpong", 1000000, bench_pingpong, nullptr},
  {"count", 10000000, bench_count, nullptr},
  {"threadring", 10000000, bench_threadring, nullptr},
  {"fjcreate", 1000000, bench_fjcreate, nullptr},
  {"fjthrput", 100000, bench_fjthrput, nullptr},
  {"idle", 100000, bench_idle, nullptr},
  {"fanin", 10000000, bench_fanin, nullptr},
  {"remote_pingpong", 100000, nullptr, bench_remote_pingpong},
  {"remote_throughput", 1000000, nullptr, bench_remote_throughput},
};

#ifndef CAF_BENCH_CXXFLAGS
#define CAF_BENCH_CXXFLAGS "unknown"
#endif

// `caf_bench --info`: the build and the scheduler, for the runner's header.
int info() {
  caf::actor_system_config cfg;
  configure(cfg, false);
  caf::actor_system sys{cfg};
  printf("INFO caf version %d.%d.%d\n", CAF_VERSION / 10000,
         CAF_VERSION / 100 % 100, CAF_VERSION % 100);
#ifdef __clang__
  printf("INFO caf compiler clang %s\n", __clang_version__);
#else
  printf("INFO caf compiler g++ %s\n", __VERSION__);
#endif
  printf("INFO caf flags %s\n", CAF_BENCH_CXXFLAGS);
  printf("INFO caf workers %zu (scheduler.max-threads = nproc = %lld; "
         "policy work-stealing, polling defaults)\n",
         sys.scheduler().num_workers(), static_cast<long long>(nproc()));
  fflush(stdout);
  return 0;
}

[[noreturn]] void usage() {
  fprintf(stderr, "usage: caf_bench <benchmark> [N] | --info\nbenchmarks:");
  for (auto& b : benches)
    fprintf(stderr, " %s", b.name);
  fprintf(stderr, "\n");
  std::_Exit(2);
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--child") == 0)
    return child_main(argv[2]);
  if (argc == 2 && strcmp(argv[1], "--info") == 0)
    return info();
  if (argc < 2 || argc > 3)
    usage();
  const bench_def* def = nullptr;
  for (auto& b : benches)
    if (strcmp(argv[1], b.name) == 0)
      def = &b;
  if (!def)
    usage();
  uint64_t n = def->default_n;
  if (argc == 3) {
    char* end = nullptr;
    n = strtoull(argv[2], &end, 10);
    if (!end || *end != '\0' || n == 0)
      usage();
  }
  install_timeout();
  if (def->remote) {
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
      fail("cannot resolve /proc/self/exe");
    exe[len] = '\0';
    def->remote(exe, n);
  } else {
    caf::actor_system_config cfg;
    configure(cfg, false);
    caf::actor_system sys{cfg};
    def->local(sys, n);
  }
  return 0;
}
