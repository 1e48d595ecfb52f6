%% Erlang/OTP peer for `make bench`.
%%
%% Run through bench/erlang/run.sh <benchmark> [N], which compiles this module
%% into a build directory and starts `erl -noinput -run erlang_bench main ...`.
%% Prints on stdout one line `RESULT <benchmark> <value> <unit>` (and, for some
%% benchmarks, further `RESULT <benchmark>_<metric> ...` lines: peak RSS,
%% allocator view, CPU per operation), and halts with a non-zero status when
%% the work was not done correctly (every benchmark checks its own
%% counts/totals); `main info` (run.sh --info) prints `INFO` lines (versions,
%% flags).  Workloads
%% and parameters are the same as in the CAF peer and in aurum_bench; see
%% bench/README.md.
%%
%% Fairness: default VM flags (+S = number of logical CPUs).  The only
%% extra flag is +P for fjcreate (a limit on live processes, not a tuning
%% knob: the driver can outrun the workers and the default limit is 262144).
-module(erlang_bench).

-export([main/1, remote_pong/0, remote_sink/4]).

-define(WARMUP_ROUND_TRIPS, 1000).  % remote_pingpong, untimed
-define(WARMUP_MESSAGES, 10000).    % remote_throughput, untimed
-define(FANIN_PRODUCERS, 1000).
-define(FANIN_BURST, 100).          % fanin: messages per producer turn
-define(MIB, (1024 * 1024)).

-define(RING_SIZE, 100).
-define(FJ_WORKERS, 60).
-define(IDLE_BATCH, 1000).
-define(PAYLOAD_SIZE, 100).
%% remote_throughput flow control: the sender keeps at most ?WINDOW messages
%% un-acked; the receiver sends a cumulative {ack, Count} every ?ACK_EVERY.
-define(WINDOW, 10000).
-define(ACK_EVERY, 1000).
-define(WAIT, 600000).

main(["info"]) ->
    info(),
    halt(0);
main([Bench]) ->
    main([Bench, "default"]);
main([Bench, NArg]) ->
    watchdog(),
    Name = list_to_atom(Bench),
    N = case NArg of
            "default" -> default_n(Name);
            _ -> list_to_integer(NArg)
        end,
    try
        true = N > 0,
        Results = case run(Name, N) of
                      {Value, Unit} -> [{Bench, Value, Unit}];
                      List when is_list(List) -> List
                  end,
        [io:format("RESULT ~s ~.2f ~s~n", [K, float(V), U])
         || {K, V, U} <- Results],
        halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "erlang_bench: FAILED: ~p:~p~n~p~n",
                      [Class, Reason, Stack]),
            halt(1)
    end;
main(_) ->
    io:format(standard_error, "usage: erlang_bench <benchmark> [N]~n", []),
    halt(2).

default_n(pingpong) -> 1000000;
default_n(count) -> 10000000;
default_n(threadring) -> 10000000;
default_n(fjcreate) -> 1000000;
default_n(fjthrput) -> 100000;
default_n(idle) -> 100000;
default_n(fanin) -> 10000000;
default_n(remote_pingpong) -> 100000;
default_n(remote_throughput) -> 1000000;
default_n(Other) -> error({unknown_benchmark, Other}).

watchdog() ->
    Secs = case os:getenv("BENCH_TIMEOUT") of
               false -> 600;
               S -> list_to_integer(S)
           end,
    Secs > 0 andalso
        spawn(fun() ->
                      timer:sleep(Secs * 1000),
                      io:format(standard_error,
                                "erlang_bench: timeout, giving up~n", []),
                      halt(124)
              end).

now_ns() -> erlang:monotonic_time(nanosecond).

wait_for(Tag) ->
    receive
        Msg when element(1, Msg) =:= Tag -> Msg
    after ?WAIT -> error({no_answer, Tag})
    end.

%% ------------------------------------------------------------ pingpong --

run(pingpong, N) ->
    Self = self(),
    Pong = spawn(fun pong/0),
    T0 = now_ns(),
    spawn(fun() -> ping(Pong, 0, N, Self) end),
    {done, Got} = wait_for(done),
    T1 = now_ns(),
    Pong ! stop,
    Got =:= N orelse error({wrong_count, Got}),
    {(T1 - T0) / N, "ns/rt"};

%% --------------------------------------------------------------- count --

run(count, N) ->
    Self = self(),
    T0 = now_ns(),
    Counter = spawn(fun() -> counter(0, 0) end),
    spawn(fun() -> produce(Counter, 0, N), Counter ! {fin, Self} end),
    {counted, Count, Sum} = wait_for(counted),
    T1 = now_ns(),
    (Count =:= N andalso Sum =:= N * (N - 1) div 2)
        orelse error({wrong_total, Count, Sum}),
    [{"count", N / ((T1 - T0) / 1.0e9), "msg/s"},
     {"count_peak_rss", peak_rss_bytes() / ?MIB, "MiB"}];

%% ---------------------------------------------------------- threadring --

run(threadring, N) ->
    Self = self(),
    Ring = [spawn(fun() -> ring_node(Id, Self) end)
            || Id <- lists:seq(0, ?RING_SIZE - 1)],
    Nexts = tl(Ring) ++ [hd(Ring)],
    lists:foreach(fun({P, Next}) -> P ! {next, Next} end,
                  lists:zip(Ring, Nexts)),
    T0 = now_ns(),
    hd(Ring) ! N,          % actor k receives N-k; token 0 ends the run
    {ring_done, Last} = wait_for(ring_done),
    T1 = now_ns(),
    [P ! stop || P <- Ring],
    Last =:= N rem ?RING_SIZE orelse error({wrong_last_actor, Last}),
    {(T1 - T0) / N, "ns/hop"};

%% ------------------------------------------------------------ fjcreate --

%% The workers' replies go to a collector process (as in aurum and CAF),
%% which reports once all N are in and stays alive; the driver then waits
%% until every worker has exited (the process count is back where it was).
run(fjcreate, N) ->
    Self = self(),
    Collector = spawn(fun() -> fj_collect(N, 0, 0, Self) end),
    Procs = erlang:system_info(process_count),
    T0 = now_ns(),
    fj_spawn(0, N, Collector),
    {fj_done, Got, Sum} = wait_for(fj_done),
    wait_process_count(Procs),
    T1 = now_ns(),
    Collector ! stop,
    (Got =:= N andalso Sum =:= N * (N - 1) div 2)
        orelse error({wrong_count, Got, Sum}),
    {N / ((T1 - T0) / 1.0e9), "actors/s"};

%% ------------------------------------------------------------ fjthrput --

run(fjthrput, N) ->
    Self = self(),
    Total = N * ?FJ_WORKERS,
    T0 = now_ns(),
    Workers = [spawn(fun() -> tp_worker(0, 0, N, Self) end)
               || _ <- lists:seq(1, ?FJ_WORKERS)],
    WT = list_to_tuple(Workers),
    spawn(fun() -> tp_send(WT, 0, Total) end),
    Sum = lists:foldl(
            fun(_, Acc) ->
                    {tp_done, Got, S} = wait_for(tp_done),
                    Got =:= N orelse error({wrong_count, Got}),
                    Acc + S
            end, 0, Workers),
    T1 = now_ns(),
    Sum =:= Total * (Total - 1) div 2 orelse error({wrong_total, Sum}),
    {Total / ((T1 - T0) / 1.0e9), "msg/s"};

%% ---------------------------------------------------------------- idle --
%% idle: the OS resident set (VmRSS of /proc/self/status, i.e. the beam
%% process) after minus before, divided by N -- the same measure as the other
%% frameworks; idle_alloc: the same with erlang:memory(processes), the VM's
%% own accounting of process memory.  The driver's list of N pids (16 bytes
%% a cons cell) is built after the first reading and so counted, as the
%% others' handle arrays are; the driver is garbage-collected before both
%% readings, so that neither counts its garbage.

run(idle, N) ->
    erlang:garbage_collect(),
    Rss0 = rss_bytes(),
    Mem0 = erlang:memory(processes),
    Procs = [spawn(fun idle_loop/0) || _ <- lists:seq(1, N)],
    Sum = idle_ping(Procs, 0, 0),
    erlang:garbage_collect(),
    Rss1 = rss_bytes(),
    Mem1 = erlang:memory(processes),
    Sum =:= N * (N - 1) div 2 orelse error({not_all_answered, Sum}),
    [P ! stop || P <- Procs],
    [{"idle", (Rss1 - Rss0) / N, "bytes/actor"},
     {"idle_alloc", (Mem1 - Mem0) / N, "bytes/actor"}];

%% --------------------------------------------------------------- fanin --
%% 1,000 producers stream N messages in total to one consumer: producer P
%% sends {P, 0}, {P, 1}, ... {P, Share - 1}, at most ?FANIN_BURST per turn,
%% then a `more` message to itself.  The consumer checks each producer's
%% order (next expected sequence number per producer, kept in its process
%% dictionary: the per-process mutable table, the counterpart of the C
%% array) and completeness, and reports after N messages.  Time: the first
%% `go` (all processes spawned before the clock) to the report.

run(fanin, N) ->
    N >= ?FANIN_PRODUCERS orelse error({fanin_n_too_small, N}),
    Self = self(),
    Consumer = spawn(fun() -> fanin_consumer_start(N, Self) end),
    Producers = [spawn(fun() -> fanin_producer(Consumer, P, 0,
                                               fanin_share(N, P)) end)
                 || P <- lists:seq(0, ?FANIN_PRODUCERS - 1)],
    T0 = now_ns(),
    [P ! go || P <- Producers],
    {fanin_done, Count, OutOfOrder, Incomplete} = wait_for(fanin_done),
    T1 = now_ns(),
    Consumer ! stop,
    (Count =:= N andalso OutOfOrder =:= 0 andalso Incomplete =:= 0)
        orelse error({fanin, Count, OutOfOrder, Incomplete}),
    [{"fanin", N / ((T1 - T0) / 1.0e9), "msg/s"},
     {"fanin_peak_rss", peak_rss_bytes() / ?MIB, "MiB"}];

%% ---------------------------------------------------------------- remote --

%% Remote: an untimed warm-up session before the clock; CPU per operation is
%% the user + system time of both OS processes (beam of this node and of the
%% peer node, from /proc/self/stat, in clock ticks) over the timed session.
%% erlang:statistics(runtime) is not used: it counts user time only.

run(remote_pingpong, N) ->
    {Peer, Node} = start_peer(),
    try
        Pong = spawn(Node, ?MODULE, remote_pong, []),
        ok = handshake(Pong),
        Payload = binary:copy(<<"x">>, ?PAYLOAD_SIZE),
        ok = remote_ping(Pong, Payload, 0, ?WARMUP_ROUND_TRIPS),
        Child0 = remote_cpu_ticks(Pong),
        Self0 = cpu_ticks(),
        T0 = now_ns(),
        ok = remote_ping(Pong, Payload, 0, N),
        T1 = now_ns(),
        Self1 = cpu_ticks(),
        Child1 = remote_cpu_ticks(Pong),
        Pong ! stop,
        Cpu = ticks_to_us((Self1 - Self0) + (Child1 - Child0)),
        [{"remote_pingpong", (T1 - T0) / 1000 / N, "us/rt"},
         {"remote_pingpong_cpu", Cpu / N, "cpu-us/rt"}]
    after
        catch peer:stop(Peer)
    end;

run(remote_throughput, N) ->
    {Peer, Node} = start_peer(),
    try
        Sink = spawn(Node, ?MODULE, remote_sink, [self(), 0, 0, true]),
        ok = handshake(Sink),
        Payload = binary:copy(<<"x">>, ?PAYLOAD_SIZE),
        Session = fun(K) ->
                          {fin, Count, Bytes, InOrder} =
                              source(Sink, Payload, 0, 0, K),
                          (Count =:= K andalso Bytes =:= K * ?PAYLOAD_SIZE
                           andalso InOrder)
                              orelse error({receiver_confirmed, Count, Bytes,
                                            InOrder})
                  end,
        Session(?WARMUP_MESSAGES),
        Child0 = remote_cpu_ticks(Sink),
        Self0 = cpu_ticks(),
        T0 = now_ns(),
        Session(N),
        T1 = now_ns(),
        Self1 = cpu_ticks(),
        Child1 = remote_cpu_ticks(Sink),
        Sink ! stop,
        Cpu = ticks_to_us((Self1 - Self0) + (Child1 - Child0)),
        [{"remote_throughput", N / ((T1 - T0) / 1.0e9), "msg/s"},
         {"remote_throughput_cpu", Cpu / N, "cpu-us/msg"}]
    after
        catch peer:stop(Peer)
    end;

run(Other, _) ->
    error({unknown_benchmark, Other}).

%% -------------------------------------------------------------- actors --

pong() ->
    receive
        {ping, From, X} -> From ! {pong, X}, pong();
        stop -> ok
    end.

ping(_Pong, N, N, Report) ->
    Report ! {done, N};
ping(Pong, I, N, Report) ->
    Pong ! {ping, self(), I},
    receive
        {pong, X} ->
            X =:= I orelse error(out_of_order),
            ping(Pong, I + 1, N, Report)
    end.

counter(Count, Sum) ->
    receive
        {fin, Report} -> Report ! {counted, Count, Sum};
        X -> counter(Count + 1, Sum + X)
    end.

produce(_Counter, N, N) -> ok;
produce(Counter, I, N) -> Counter ! I, produce(Counter, I + 1, N).

ring_node(Id, Report) ->
    receive {next, Next} -> ring_loop(Id, Next, Report) end.

ring_loop(Id, Next, Report) ->
    receive
        0 -> Report ! {ring_done, Id}, ring_loop(Id, Next, Report);
        Token when is_integer(Token) ->
            Next ! Token - 1, ring_loop(Id, Next, Report);
        stop -> ok
    end.

fj_spawn(N, N, _Driver) -> ok;
fj_spawn(I, N, Driver) ->
    W = spawn(fun fj_worker/0),
    W ! {I, Driver},
    fj_spawn(I + 1, N, Driver).

fj_worker() ->
    receive {X, From} -> From ! {fj, X} end.   % then the process exits

fj_collect(0, Got, Sum, Driver) ->
    Driver ! {fj_done, Got, Sum},
    receive stop -> ok end;
fj_collect(Left, Got, Sum, Driver) ->
    receive
        {fj, X} -> fj_collect(Left - 1, Got + 1, Sum + X, Driver)
    after ?WAIT -> error(no_answer)
    end.

%% Until at most Procs processes exist (the exited workers are gone).
wait_process_count(Procs) ->
    case erlang:system_info(process_count) =< Procs of
        true -> ok;
        false -> erlang:yield(), wait_process_count(Procs)
    end.

fanin_share(N, P) ->
    N div ?FANIN_PRODUCERS + case P < N rem ?FANIN_PRODUCERS of
                                 true -> 1;
                                 false -> 0
                             end.

fanin_consumer_start(N, Driver) ->
    [put(P, 0) || P <- lists:seq(0, ?FANIN_PRODUCERS - 1)],
    fanin_consumer(N, 0, 0, Driver).

fanin_consumer(N, N, OutOfOrder, Driver) ->
    Incomplete = length([P || P <- lists:seq(0, ?FANIN_PRODUCERS - 1),
                              get(P) =/= fanin_share(N, P)]),
    Driver ! {fanin_done, N, OutOfOrder, Incomplete},
    receive stop -> ok end;
fanin_consumer(N, Count, OutOfOrder, Driver) ->
    receive
        {P, Seq} ->
            case get(P) of
                Seq ->
                    put(P, Seq + 1),
                    fanin_consumer(N, Count + 1, OutOfOrder, Driver);
                _ ->
                    fanin_consumer(N, Count + 1, OutOfOrder + 1, Driver)
            end
    end.

fanin_producer(Consumer, P, Sent, Share) ->
    receive
        M when M =:= go; M =:= more ->
            Next = fanin_burst(Consumer, P, Sent, min(Share, Sent + ?FANIN_BURST)),
            case Next < Share of
                true ->
                    self() ! more,
                    fanin_producer(Consumer, P, Next, Share);
                false -> ok
            end
    end.

fanin_burst(_Consumer, _P, Stop, Stop) -> Stop;
fanin_burst(Consumer, P, Seq, Stop) ->
    Consumer ! {P, Seq},
    fanin_burst(Consumer, P, Seq + 1, Stop).

tp_worker(N, Sum, N, Report) ->
    Report ! {tp_done, N, Sum};
tp_worker(Got, Sum, N, Report) ->
    receive X -> tp_worker(Got + 1, Sum + X, N, Report) end.

tp_send(_Workers, Total, Total) -> ok;
tp_send(Workers, I, Total) ->
    element(I rem ?FJ_WORKERS + 1, Workers) ! I,   % round-robin
    tp_send(Workers, I + 1, Total).

idle_loop() ->
    receive
        {ping, From, I} -> From ! {pong, I}, idle_loop();
        stop -> ok
    end.

%% Ping every process once, at most ?IDLE_BATCH in flight.
idle_ping([], _I, Sum) -> Sum;
idle_ping(Procs, I, Sum) ->
    {Batch, Rest} = take(?IDLE_BATCH, Procs, []),
    Next = lists:foldl(fun(P, K) -> P ! {ping, self(), K}, K + 1 end,
                       I, Batch),
    idle_ping(Rest, Next, Sum + idle_collect(length(Batch), 0)).

take(0, Rest, Acc) -> {Acc, Rest};
take(_, [], Acc) -> {Acc, []};
take(K, [P | Rest], Acc) -> take(K - 1, Rest, [P | Acc]).

idle_collect(0, Sum) -> Sum;
idle_collect(K, Sum) ->
    receive {pong, I} -> idle_collect(K - 1, Sum + I)
    after ?WAIT -> error(no_answer)
    end.

rss_bytes() -> status_kb(<<"VmRSS:">>) * 1024.

%% The process's peak resident set (VmHWM: the kernel's counter that
%% getrusage reports as ru_maxrss).
peak_rss_bytes() -> status_kb(<<"VmHWM:">>) * 1024.

status_kb(Key) ->
    {ok, Bin} = file:read_file("/proc/self/status"),
    [Line] = [L || L <- binary:split(Bin, <<"\n">>, [global]),
                   binary:match(L, Key) =:= {0, byte_size(Key)}],
    [_, Kb | _] = binary:split(Line, [<<" ">>, <<"\t">>],
                               [global, trim_all]),
    binary_to_integer(Kb).

%% User + system CPU time of this OS process (fields utime and stime of
%% /proc/self/stat), in clock ticks.
cpu_ticks() ->
    {ok, Bin} = file:read_file("/proc/self/stat"),
    [_, Rest] = binary:split(Bin, <<") ">>),
    Fields = binary:split(Rest, <<" ">>, [global]),
    %% Rest starts at field 3 (state): utime is field 14, stime field 15.
    binary_to_integer(lists:nth(12, Fields))
        + binary_to_integer(lists:nth(13, Fields)).

%% CPU ticks in microseconds (ticks per second, USER_HZ, from getconf).
ticks_to_us(Ticks) ->
    Hz = case string:to_integer(string:trim(os:cmd("getconf CLK_TCK"))) of
             {H, []} when H > 0 -> H;
             _ -> 100
         end,
    Ticks * 1.0e6 / Hz.

%% The peer node's CPU ticks: asked of the remote process (a `cpu` request).
remote_cpu_ticks(Pid) ->
    Pid ! {cpu, self()},
    receive {cpu_ticks, T} -> T
    after 30000 -> error(no_cpu_answer)
    end.

info() ->
    Out = fun(Fmt, Args) -> io:format("INFO erlang " ++ Fmt ++ "~n", Args) end,
    Out("version OTP ~s, ~s", [erlang:system_info(otp_release),
                                string:trim(erlang:system_info(system_version))]),
    Out("emulator ~s, schedulers ~p online of ~p, dirty CPU schedulers ~p",
        [erlang:system_info(emu_flavor), erlang:system_info(schedulers_online),
         erlang:system_info(schedulers),
         erlang:system_info(dirty_cpu_schedulers_online)]).

%% ----------------------------------------------------- remote helpers --

%% The second node: same erl, loopback-only distribution, same cookie.
start_peer() ->
    erlang:is_alive() orelse error(not_distributed),
    Dir = filename:dirname(code:which(?MODULE)),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    {ok, Peer, Node} =
        peer:start_link(#{name => peer:random_name(),
                          host => Host,
                          longnames => true,
                          wait_boot => 30000,
                          args => ["-setcookie",
                                   atom_to_list(erlang:get_cookie()),
                                   "-kernel", "inet_dist_use_interface",
                                   "{127,0,0,1}",
                                   "-pa", Dir]}),
    {Peer, Node}.

remote_pong() ->
    receive
        {hello, From} -> From ! hello, remote_pong();
        {cpu, From} -> From ! {cpu_ticks, cpu_ticks()}, remote_pong();
        {From, Seq, Bin} -> From ! {Seq, Bin}, remote_pong();
        stop -> ok
    end.

remote_ping(_Pong, _Payload, N, N) -> ok;
remote_ping(Pong, Payload, I, N) ->
    Pong ! {self(), I, Payload},
    receive
        {Seq, Bin} when is_integer(Seq) ->
            (Seq =:= I andalso byte_size(Bin) =:= ?PAYLOAD_SIZE)
                orelse error(bad_reply),
            remote_ping(Pong, Payload, I + 1, N)
    after ?WAIT -> error(no_answer)
    end.

%% remote_throughput receiver: counts messages and bytes, sends a cumulative
%% {ack, Count} to the source after every ?ACK_EVERY messages, and answers
%% {fin, From} with {fin, Count, Bytes, InOrder}, then counts the next
%% session from zero (a session's acks all arrive before its fin reply).
remote_sink(Src, Count, Bytes, InOrder) ->
    receive
        {hello, From} ->
            From ! hello,
            remote_sink(Src, Count, Bytes, InOrder);
        {cpu, From} ->
            From ! {cpu_ticks, cpu_ticks()},
            remote_sink(Src, Count, Bytes, InOrder);
        {fin, From} ->
            From ! {fin, Count, Bytes, InOrder},
            remote_sink(Src, 0, 0, true);
        {Seq, Bin} when is_integer(Seq) ->
            C = Count + 1,
            C rem ?ACK_EVERY =:= 0 andalso (Src ! {ack, C}),
            remote_sink(Src, C, Bytes + byte_size(Bin),
                        InOrder andalso Seq =:= Count);
        stop -> ok
    end.

%% remote_throughput sender: sends while Sent - Acked < ?WINDOW, otherwise
%% waits for an ack; after the last message sends {fin, self()} and waits
%% for the receiver's confirmation.
source(Sink, Payload, Sent, Acked, N) when Sent < N, Sent - Acked < ?WINDOW ->
    Sink ! {Sent, Payload},
    source(Sink, Payload, Sent + 1, Acked, N);
source(Sink, _Payload, N, _Acked, N) ->
    Sink ! {fin, self()},
    source_fin();
source(Sink, Payload, Sent, Acked, N) ->
    receive
        {ack, C} -> source(Sink, Payload, Sent, max(C, Acked), N)
    after ?WAIT -> error(no_ack)
    end.

source_fin() ->
    receive
        {ack, _} -> source_fin();
        {fin, _, _, _} = Fin -> Fin
    after ?WAIT -> error(no_fin)
    end.

%% One untimed round trip before the clock starts: the remote process is
%% spawned asynchronously, and the first message pays for loading this module
%% on the second node.
handshake(Pid) ->
    Pid ! {hello, self()},
    receive hello -> ok
    after 30000 -> error(no_handshake)
    end.
