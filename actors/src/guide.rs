//! A guide to supervision in the manner of OTP's supervisor principles, with a tested example
//! of each strategy and restart policy.
//!
//! # Principles
//!
//! A **supervisor** is an actor whose only job is to start other actors, its **children**, watch
//! them, and restart them when they end. A child is described by a **child spec**: an id unique
//! within its supervisor, a start function called at the first start and at every restart, and a
//! **policy**: when it is restarted (`Restart`), how it is stopped (`ShutdownPolicy`) and how a crash
//! loop backs off (`Backoff`). Children are started in the order they are listed and stopped in the
//! reverse order.
//!
//! Every end of a child reaches its supervisor, whatever caused it: a normal stop, an error the child
//! recorded in its `ExitSlot` before stopping, a panic in any handler, or a kill. The supervisor
//! decides what to do from the child's policy and its own **strategy**, and reports each decision as
//! a `SupervisionEvent` to the `EventSink` it was given.
//!
//! Restarts are limited by the supervisor's **intensity**: at most `max_restarts` restarts in any
//! `period`. One more, and the supervisor concludes that restarting does not help: it stops its
//! children and exits with an error, which its own supervisor sees as a crash of one child. Failure
//! climbs the tree until a supervisor can fix it by restarting a larger part, or until the root gives
//! up, which is how a program built on this crate should end.
//!
//! Mailboxes are bounded: `StartedChild::new(actor, capacity)` sets the capacity, and
//! `mailbox::try_send` counts a refusal in the actor kind's `MailboxProbe` instead of waiting, so a
//! full mailbox becomes an answer the caller can turn into backpressure.
//!
//! The examples below share a few lines of set-up, hidden here and visible in the source of this
//! page: a `Worker` that panics or quits when told, a `worker(id, &addrs)` spec that publishes each
//! incarnation's address, and an `observed()` tree whose events arrive on a channel.
//!
//! ## Strategies
//!
//! ### `one_for_one`: restart the child that ended
//!
//! The default. Children are independent: one's crash touches no other.
//!
//! ```rust
//! # use std::collections::HashMap;
//! # use std::sync::Arc;
//! # use actix::prelude::*;
//! # use hive_actors::*;
//! # use hive_actors::Supervisor;
//! # use parking_lot::Mutex;
//! # use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
//! # type Addrs = Arc<Mutex<HashMap<String, Addr<Worker>>>>;
//! # struct Worker { exit: ExitSlot }
//! # impl Actor for Worker { type Context = Context<Self>; }
//! # impl Handler<Shutdown> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) { ctx.stop(); }
//! # }
//! # #[derive(Message)] #[rtype(result = "()")] enum Order { Panic, Quit }
//! # impl Handler<Order> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, order: Order, ctx: &mut Context<Self>) {
//! #         match order { Order::Panic => panic!("told to"), Order::Quit => ctx.stop() }
//! #     }
//! # }
//! # /// A child spec whose every (re)start publishes the worker's address in `addrs`.
//! # fn worker(id: &str, addrs: &Addrs) -> ChildSpec {
//! #     let addrs = addrs.clone();
//! #     ChildSpec::new(id.to_owned(), move |ctx: ChildContext| {
//! #         let (addr, started) = StartedChild::new(Worker { exit: ctx.exit.clone() }, 16);
//! #         addrs.lock().insert(ctx.id.to_string(), addr);
//! #         started
//! #     })
//! #     .backoff(Backoff::immediate())
//! # }
//! # /// A tree whose events arrive on a channel.
//! # fn observed() -> (Tree, EventSink, UnboundedReceiver<SupervisionEvent>) {
//! #     let (tx, rx) = unbounded_channel();
//! #     (Tree::default(), Arc::new(move |e: &SupervisionEvent| { let _ = tx.send(e.clone()); }), rx)
//! # }
//! # /// The events up to and including the first that `done` accepts.
//! # async fn until(rx: &mut UnboundedReceiver<SupervisionEvent>, done: impl Fn(&SupervisionEvent) -> bool) -> Vec<SupervisionEvent> {
//! #     let mut seen = Vec::new();
//! #     loop { let e = rx.recv().await.unwrap(); let stop = done(&e); seen.push(e); if stop { return seen; } }
//! # }
//! # fn started(e: &SupervisionEvent, child: &str, generation: u64) -> bool {
//! #     e.child == child && matches!(e.kind, SupervisionEventKind::ChildStarted { generation: g } if g == generation)
//! # }
//! # actix_rt::System::new().block_on(async {
//! let (tree, events, mut rx) = observed();
//! let addrs = Addrs::default();
//! let spec = SupervisorSpec::new("sup", tree.clone(), events).strategy(Strategy::OneForOne);
//! let children = vec![worker("a", &addrs), worker("b", &addrs), worker("c", &addrs)];
//! let _sup = Supervisor::new(spec, children, ExitSlot::default()).start();
//! until(&mut rx, |e| started(e, "c", 0)).await;
//!
//! addrs.lock()["b"].do_send(Order::Panic);
//! let seen = until(&mut rx, |e| started(e, "b", 1)).await;
//! assert!(seen.iter().all(|e| e.child == "b"), "only b was touched");
//! # });
//! ```
//!
//! ### `one_for_all`: restart them all
//!
//! For children that cannot work without each other: when one ends, the others are stopped in reverse
//! start order, and all are started again in start order.
//!
//! ```rust
//! # use std::collections::HashMap;
//! # use std::sync::Arc;
//! # use actix::prelude::*;
//! # use hive_actors::*;
//! # use hive_actors::Supervisor;
//! # use parking_lot::Mutex;
//! # use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
//! # type Addrs = Arc<Mutex<HashMap<String, Addr<Worker>>>>;
//! # struct Worker { exit: ExitSlot }
//! # impl Actor for Worker { type Context = Context<Self>; }
//! # impl Handler<Shutdown> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) { ctx.stop(); }
//! # }
//! # #[derive(Message)] #[rtype(result = "()")] enum Order { Panic, Quit }
//! # impl Handler<Order> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, order: Order, ctx: &mut Context<Self>) {
//! #         match order { Order::Panic => panic!("told to"), Order::Quit => ctx.stop() }
//! #     }
//! # }
//! # /// A child spec whose every (re)start publishes the worker's address in `addrs`.
//! # fn worker(id: &str, addrs: &Addrs) -> ChildSpec {
//! #     let addrs = addrs.clone();
//! #     ChildSpec::new(id.to_owned(), move |ctx: ChildContext| {
//! #         let (addr, started) = StartedChild::new(Worker { exit: ctx.exit.clone() }, 16);
//! #         addrs.lock().insert(ctx.id.to_string(), addr);
//! #         started
//! #     })
//! #     .backoff(Backoff::immediate())
//! # }
//! # /// A tree whose events arrive on a channel.
//! # fn observed() -> (Tree, EventSink, UnboundedReceiver<SupervisionEvent>) {
//! #     let (tx, rx) = unbounded_channel();
//! #     (Tree::default(), Arc::new(move |e: &SupervisionEvent| { let _ = tx.send(e.clone()); }), rx)
//! # }
//! # /// The events up to and including the first that `done` accepts.
//! # async fn until(rx: &mut UnboundedReceiver<SupervisionEvent>, done: impl Fn(&SupervisionEvent) -> bool) -> Vec<SupervisionEvent> {
//! #     let mut seen = Vec::new();
//! #     loop { let e = rx.recv().await.unwrap(); let stop = done(&e); seen.push(e); if stop { return seen; } }
//! # }
//! # fn started(e: &SupervisionEvent, child: &str, generation: u64) -> bool {
//! #     e.child == child && matches!(e.kind, SupervisionEventKind::ChildStarted { generation: g } if g == generation)
//! # }
//! # actix_rt::System::new().block_on(async {
//! let (tree, events, mut rx) = observed();
//! let addrs = Addrs::default();
//! let spec = SupervisorSpec::new("sup", tree.clone(), events).strategy(Strategy::OneForAll);
//! let children = vec![worker("a", &addrs), worker("b", &addrs), worker("c", &addrs)];
//! let _sup = Supervisor::new(spec, children, ExitSlot::default()).start();
//! until(&mut rx, |e| started(e, "c", 0)).await;
//!
//! addrs.lock()["b"].do_send(Order::Panic);
//! let seen = until(&mut rx, |e| started(e, "c", 1)).await;
//! assert!(seen.iter().any(|e| started(e, "a", 1)));
//! assert!(seen.iter().any(|e| started(e, "b", 1)));
//! # });
//! ```
//!
//! ### `rest_for_one`: restart it and those started after it
//!
//! For a chain where later children depend on earlier ones: a crash of `b` restarts `b` and `c`, and
//! leaves `a` alone.
//!
//! ```rust
//! # use std::collections::HashMap;
//! # use std::sync::Arc;
//! # use actix::prelude::*;
//! # use hive_actors::*;
//! # use hive_actors::Supervisor;
//! # use parking_lot::Mutex;
//! # use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
//! # type Addrs = Arc<Mutex<HashMap<String, Addr<Worker>>>>;
//! # struct Worker { exit: ExitSlot }
//! # impl Actor for Worker { type Context = Context<Self>; }
//! # impl Handler<Shutdown> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) { ctx.stop(); }
//! # }
//! # #[derive(Message)] #[rtype(result = "()")] enum Order { Panic, Quit }
//! # impl Handler<Order> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, order: Order, ctx: &mut Context<Self>) {
//! #         match order { Order::Panic => panic!("told to"), Order::Quit => ctx.stop() }
//! #     }
//! # }
//! # /// A child spec whose every (re)start publishes the worker's address in `addrs`.
//! # fn worker(id: &str, addrs: &Addrs) -> ChildSpec {
//! #     let addrs = addrs.clone();
//! #     ChildSpec::new(id.to_owned(), move |ctx: ChildContext| {
//! #         let (addr, started) = StartedChild::new(Worker { exit: ctx.exit.clone() }, 16);
//! #         addrs.lock().insert(ctx.id.to_string(), addr);
//! #         started
//! #     })
//! #     .backoff(Backoff::immediate())
//! # }
//! # /// A tree whose events arrive on a channel.
//! # fn observed() -> (Tree, EventSink, UnboundedReceiver<SupervisionEvent>) {
//! #     let (tx, rx) = unbounded_channel();
//! #     (Tree::default(), Arc::new(move |e: &SupervisionEvent| { let _ = tx.send(e.clone()); }), rx)
//! # }
//! # /// The events up to and including the first that `done` accepts.
//! # async fn until(rx: &mut UnboundedReceiver<SupervisionEvent>, done: impl Fn(&SupervisionEvent) -> bool) -> Vec<SupervisionEvent> {
//! #     let mut seen = Vec::new();
//! #     loop { let e = rx.recv().await.unwrap(); let stop = done(&e); seen.push(e); if stop { return seen; } }
//! # }
//! # fn started(e: &SupervisionEvent, child: &str, generation: u64) -> bool {
//! #     e.child == child && matches!(e.kind, SupervisionEventKind::ChildStarted { generation: g } if g == generation)
//! # }
//! # actix_rt::System::new().block_on(async {
//! let (tree, events, mut rx) = observed();
//! let addrs = Addrs::default();
//! let spec = SupervisorSpec::new("sup", tree.clone(), events).strategy(Strategy::RestForOne);
//! let children = vec![worker("a", &addrs), worker("b", &addrs), worker("c", &addrs)];
//! let _sup = Supervisor::new(spec, children, ExitSlot::default()).start();
//! until(&mut rx, |e| started(e, "c", 0)).await;
//!
//! addrs.lock()["b"].do_send(Order::Panic);
//! let seen = until(&mut rx, |e| started(e, "c", 1)).await;
//! assert!(seen.iter().any(|e| started(e, "b", 1)));
//! assert!(seen.iter().all(|e| e.child != "a"), "a was not touched");
//! # });
//! ```
//!
//! ### `simple_one_for_one`: a pool of alike children
//!
//! A dynamic pool: it starts empty, children are added (`StartChild`) and removed (`TerminateChild`)
//! at run time, each is restarted on its own, and on shutdown all are asked to stop at once, so a pool
//! of ten thousand takes one shutdown timeout, not ten thousand. One spec serves every child:
//! `ChildSpec::named` makes another child of it under its own id, sharing its start function and
//! policy.
//!
//! ```rust
//! # use std::collections::HashMap;
//! # use std::sync::Arc;
//! # use actix::prelude::*;
//! # use hive_actors::*;
//! # use hive_actors::Supervisor;
//! # use parking_lot::Mutex;
//! # use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
//! # type Addrs = Arc<Mutex<HashMap<String, Addr<Worker>>>>;
//! # struct Worker { exit: ExitSlot }
//! # impl Actor for Worker { type Context = Context<Self>; }
//! # impl Handler<Shutdown> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) { ctx.stop(); }
//! # }
//! # #[derive(Message)] #[rtype(result = "()")] enum Order { Panic, Quit }
//! # impl Handler<Order> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, order: Order, ctx: &mut Context<Self>) {
//! #         match order { Order::Panic => panic!("told to"), Order::Quit => ctx.stop() }
//! #     }
//! # }
//! # /// A child spec whose every (re)start publishes the worker's address in `addrs`.
//! # fn worker(id: &str, addrs: &Addrs) -> ChildSpec {
//! #     let addrs = addrs.clone();
//! #     ChildSpec::new(id.to_owned(), move |ctx: ChildContext| {
//! #         let (addr, started) = StartedChild::new(Worker { exit: ctx.exit.clone() }, 16);
//! #         addrs.lock().insert(ctx.id.to_string(), addr);
//! #         started
//! #     })
//! #     .backoff(Backoff::immediate())
//! # }
//! # /// A tree whose events arrive on a channel.
//! # fn observed() -> (Tree, EventSink, UnboundedReceiver<SupervisionEvent>) {
//! #     let (tx, rx) = unbounded_channel();
//! #     (Tree::default(), Arc::new(move |e: &SupervisionEvent| { let _ = tx.send(e.clone()); }), rx)
//! # }
//! # /// The events up to and including the first that `done` accepts.
//! # async fn until(rx: &mut UnboundedReceiver<SupervisionEvent>, done: impl Fn(&SupervisionEvent) -> bool) -> Vec<SupervisionEvent> {
//! #     let mut seen = Vec::new();
//! #     loop { let e = rx.recv().await.unwrap(); let stop = done(&e); seen.push(e); if stop { return seen; } }
//! # }
//! # fn started(e: &SupervisionEvent, child: &str, generation: u64) -> bool {
//! #     e.child == child && matches!(e.kind, SupervisionEventKind::ChildStarted { generation: g } if g == generation)
//! # }
//! # actix_rt::System::new().block_on(async {
//! let (tree, events, mut rx) = observed();
//! let addrs = Addrs::default();
//! let spec = SupervisorSpec::new("pool", tree.clone(), events).strategy(Strategy::SimpleOneForOne);
//! let pool = Supervisor::new(spec, vec![], ExitSlot::default()).start();
//! let template = worker("template", &addrs);
//! for id in ["w1", "w2"] {
//!     pool.send(StartChild(template.named(id))).await.unwrap().unwrap();
//! }
//! addrs.lock()["w1"].do_send(Order::Panic);
//! until(&mut rx, |e| started(e, "w1", 1)).await;
//!
//! pool.send(TerminateChild("w2".into())).await.unwrap().unwrap();
//! assert!(tree.child("pool", "w2").await.is_none());
//! assert_eq!(tree.child("pool", "w1").await.unwrap().restarts, 1);
//! # });
//! ```
//!
//! ## Restart policies
//!
//! ### `permanent`: always restarted
//!
//! The default: the child should always run, so even a normal stop is followed by a restart.
//!
//! ```rust
//! # use std::collections::HashMap;
//! # use std::sync::Arc;
//! # use actix::prelude::*;
//! # use hive_actors::*;
//! # use hive_actors::Supervisor;
//! # use parking_lot::Mutex;
//! # use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
//! # type Addrs = Arc<Mutex<HashMap<String, Addr<Worker>>>>;
//! # struct Worker { exit: ExitSlot }
//! # impl Actor for Worker { type Context = Context<Self>; }
//! # impl Handler<Shutdown> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) { ctx.stop(); }
//! # }
//! # #[derive(Message)] #[rtype(result = "()")] enum Order { Panic, Quit }
//! # impl Handler<Order> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, order: Order, ctx: &mut Context<Self>) {
//! #         match order { Order::Panic => panic!("told to"), Order::Quit => ctx.stop() }
//! #     }
//! # }
//! # /// A child spec whose every (re)start publishes the worker's address in `addrs`.
//! # fn worker(id: &str, addrs: &Addrs) -> ChildSpec {
//! #     let addrs = addrs.clone();
//! #     ChildSpec::new(id.to_owned(), move |ctx: ChildContext| {
//! #         let (addr, started) = StartedChild::new(Worker { exit: ctx.exit.clone() }, 16);
//! #         addrs.lock().insert(ctx.id.to_string(), addr);
//! #         started
//! #     })
//! #     .backoff(Backoff::immediate())
//! # }
//! # /// A tree whose events arrive on a channel.
//! # fn observed() -> (Tree, EventSink, UnboundedReceiver<SupervisionEvent>) {
//! #     let (tx, rx) = unbounded_channel();
//! #     (Tree::default(), Arc::new(move |e: &SupervisionEvent| { let _ = tx.send(e.clone()); }), rx)
//! # }
//! # /// The events up to and including the first that `done` accepts.
//! # async fn until(rx: &mut UnboundedReceiver<SupervisionEvent>, done: impl Fn(&SupervisionEvent) -> bool) -> Vec<SupervisionEvent> {
//! #     let mut seen = Vec::new();
//! #     loop { let e = rx.recv().await.unwrap(); let stop = done(&e); seen.push(e); if stop { return seen; } }
//! # }
//! # fn started(e: &SupervisionEvent, child: &str, generation: u64) -> bool {
//! #     e.child == child && matches!(e.kind, SupervisionEventKind::ChildStarted { generation: g } if g == generation)
//! # }
//! # actix_rt::System::new().block_on(async {
//! let (tree, events, mut rx) = observed();
//! let addrs = Addrs::default();
//! let spec = SupervisorSpec::new("sup", tree.clone(), events);
//! let _sup = Supervisor::new(spec, vec![worker("p", &addrs)], ExitSlot::default()).start();
//! until(&mut rx, |e| started(e, "p", 0)).await;
//!
//! addrs.lock()["p"].do_send(Order::Quit);
//! until(&mut rx, |e| started(e, "p", 1)).await;
//! # });
//! ```
//!
//! ### `transient`: restarted after an abnormal end only
//!
//! For a child that may finish its work: a normal stop is final, an error, a panic or a kill is
//! restarted.
//!
//! ```rust
//! # use std::collections::HashMap;
//! # use std::sync::Arc;
//! # use actix::prelude::*;
//! # use hive_actors::*;
//! # use hive_actors::Supervisor;
//! # use parking_lot::Mutex;
//! # use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
//! # type Addrs = Arc<Mutex<HashMap<String, Addr<Worker>>>>;
//! # struct Worker { exit: ExitSlot }
//! # impl Actor for Worker { type Context = Context<Self>; }
//! # impl Handler<Shutdown> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) { ctx.stop(); }
//! # }
//! # #[derive(Message)] #[rtype(result = "()")] enum Order { Panic, Quit }
//! # impl Handler<Order> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, order: Order, ctx: &mut Context<Self>) {
//! #         match order { Order::Panic => panic!("told to"), Order::Quit => ctx.stop() }
//! #     }
//! # }
//! # /// A child spec whose every (re)start publishes the worker's address in `addrs`.
//! # fn worker(id: &str, addrs: &Addrs) -> ChildSpec {
//! #     let addrs = addrs.clone();
//! #     ChildSpec::new(id.to_owned(), move |ctx: ChildContext| {
//! #         let (addr, started) = StartedChild::new(Worker { exit: ctx.exit.clone() }, 16);
//! #         addrs.lock().insert(ctx.id.to_string(), addr);
//! #         started
//! #     })
//! #     .backoff(Backoff::immediate())
//! # }
//! # /// A tree whose events arrive on a channel.
//! # fn observed() -> (Tree, EventSink, UnboundedReceiver<SupervisionEvent>) {
//! #     let (tx, rx) = unbounded_channel();
//! #     (Tree::default(), Arc::new(move |e: &SupervisionEvent| { let _ = tx.send(e.clone()); }), rx)
//! # }
//! # /// The events up to and including the first that `done` accepts.
//! # async fn until(rx: &mut UnboundedReceiver<SupervisionEvent>, done: impl Fn(&SupervisionEvent) -> bool) -> Vec<SupervisionEvent> {
//! #     let mut seen = Vec::new();
//! #     loop { let e = rx.recv().await.unwrap(); let stop = done(&e); seen.push(e); if stop { return seen; } }
//! # }
//! # fn started(e: &SupervisionEvent, child: &str, generation: u64) -> bool {
//! #     e.child == child && matches!(e.kind, SupervisionEventKind::ChildStarted { generation: g } if g == generation)
//! # }
//! # actix_rt::System::new().block_on(async {
//! let (tree, events, mut rx) = observed();
//! let addrs = Addrs::default();
//! let spec = SupervisorSpec::new("sup", tree.clone(), events);
//! let child = worker("t", &addrs).restart(Restart::Transient);
//! let _sup = Supervisor::new(spec, vec![child], ExitSlot::default()).start();
//! until(&mut rx, |e| started(e, "t", 0)).await;
//!
//! addrs.lock()["t"].do_send(Order::Panic);
//! until(&mut rx, |e| started(e, "t", 1)).await;
//!
//! addrs.lock()["t"].do_send(Order::Quit);
//! until(&mut rx, |e| e.child == "t" && matches!(e.kind, SupervisionEventKind::ChildExited { .. })).await;
//! assert_eq!(tree.child("sup", "t").await.unwrap().status, ChildStatus::Stopped);
//! # });
//! ```
//!
//! ### `temporary`: never restarted
//!
//! For one-off work: whatever its end, the child is removed from its supervisor.
//!
//! ```rust
//! # use std::collections::HashMap;
//! # use std::sync::Arc;
//! # use actix::prelude::*;
//! # use hive_actors::*;
//! # use hive_actors::Supervisor;
//! # use parking_lot::Mutex;
//! # use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
//! # type Addrs = Arc<Mutex<HashMap<String, Addr<Worker>>>>;
//! # struct Worker { exit: ExitSlot }
//! # impl Actor for Worker { type Context = Context<Self>; }
//! # impl Handler<Shutdown> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) { ctx.stop(); }
//! # }
//! # #[derive(Message)] #[rtype(result = "()")] enum Order { Panic, Quit }
//! # impl Handler<Order> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, order: Order, ctx: &mut Context<Self>) {
//! #         match order { Order::Panic => panic!("told to"), Order::Quit => ctx.stop() }
//! #     }
//! # }
//! # /// A child spec whose every (re)start publishes the worker's address in `addrs`.
//! # fn worker(id: &str, addrs: &Addrs) -> ChildSpec {
//! #     let addrs = addrs.clone();
//! #     ChildSpec::new(id.to_owned(), move |ctx: ChildContext| {
//! #         let (addr, started) = StartedChild::new(Worker { exit: ctx.exit.clone() }, 16);
//! #         addrs.lock().insert(ctx.id.to_string(), addr);
//! #         started
//! #     })
//! #     .backoff(Backoff::immediate())
//! # }
//! # /// A tree whose events arrive on a channel.
//! # fn observed() -> (Tree, EventSink, UnboundedReceiver<SupervisionEvent>) {
//! #     let (tx, rx) = unbounded_channel();
//! #     (Tree::default(), Arc::new(move |e: &SupervisionEvent| { let _ = tx.send(e.clone()); }), rx)
//! # }
//! # /// The events up to and including the first that `done` accepts.
//! # async fn until(rx: &mut UnboundedReceiver<SupervisionEvent>, done: impl Fn(&SupervisionEvent) -> bool) -> Vec<SupervisionEvent> {
//! #     let mut seen = Vec::new();
//! #     loop { let e = rx.recv().await.unwrap(); let stop = done(&e); seen.push(e); if stop { return seen; } }
//! # }
//! # fn started(e: &SupervisionEvent, child: &str, generation: u64) -> bool {
//! #     e.child == child && matches!(e.kind, SupervisionEventKind::ChildStarted { generation: g } if g == generation)
//! # }
//! # actix_rt::System::new().block_on(async {
//! let (tree, events, mut rx) = observed();
//! let addrs = Addrs::default();
//! let spec = SupervisorSpec::new("sup", tree.clone(), events);
//! let child = worker("once", &addrs).restart(Restart::Temporary);
//! let _sup = Supervisor::new(spec, vec![child], ExitSlot::default()).start();
//! until(&mut rx, |e| started(e, "once", 0)).await;
//!
//! addrs.lock()["once"].do_send(Order::Panic);
//! until(&mut rx, |e| e.child == "once" && matches!(e.kind, SupervisionEventKind::ChildExited { .. })).await;
//! assert!(tree.child("sup", "once").await.is_none());
//! # });
//! ```
//!
//! ## Intensity: when restarting does not help
//!
//! Two restarts within five seconds are allowed here; the third crash makes the supervisor give up,
//! stop its children and exit with an error its parent sees.
//!
//! ```rust
//! # use std::collections::HashMap;
//! # use std::sync::Arc;
//! # use actix::prelude::*;
//! # use hive_actors::*;
//! # use hive_actors::Supervisor;
//! # use parking_lot::Mutex;
//! # use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
//! # type Addrs = Arc<Mutex<HashMap<String, Addr<Worker>>>>;
//! # struct Worker { exit: ExitSlot }
//! # impl Actor for Worker { type Context = Context<Self>; }
//! # impl Handler<Shutdown> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) { ctx.stop(); }
//! # }
//! # #[derive(Message)] #[rtype(result = "()")] enum Order { Panic, Quit }
//! # impl Handler<Order> for Worker {
//! #     type Result = ();
//! #     fn handle(&mut self, order: Order, ctx: &mut Context<Self>) {
//! #         match order { Order::Panic => panic!("told to"), Order::Quit => ctx.stop() }
//! #     }
//! # }
//! # /// A child spec whose every (re)start publishes the worker's address in `addrs`.
//! # fn worker(id: &str, addrs: &Addrs) -> ChildSpec {
//! #     let addrs = addrs.clone();
//! #     ChildSpec::new(id.to_owned(), move |ctx: ChildContext| {
//! #         let (addr, started) = StartedChild::new(Worker { exit: ctx.exit.clone() }, 16);
//! #         addrs.lock().insert(ctx.id.to_string(), addr);
//! #         started
//! #     })
//! #     .backoff(Backoff::immediate())
//! # }
//! # /// A tree whose events arrive on a channel.
//! # fn observed() -> (Tree, EventSink, UnboundedReceiver<SupervisionEvent>) {
//! #     let (tx, rx) = unbounded_channel();
//! #     (Tree::default(), Arc::new(move |e: &SupervisionEvent| { let _ = tx.send(e.clone()); }), rx)
//! # }
//! # /// The events up to and including the first that `done` accepts.
//! # async fn until(rx: &mut UnboundedReceiver<SupervisionEvent>, done: impl Fn(&SupervisionEvent) -> bool) -> Vec<SupervisionEvent> {
//! #     let mut seen = Vec::new();
//! #     loop { let e = rx.recv().await.unwrap(); let stop = done(&e); seen.push(e); if stop { return seen; } }
//! # }
//! # fn started(e: &SupervisionEvent, child: &str, generation: u64) -> bool {
//! #     e.child == child && matches!(e.kind, SupervisionEventKind::ChildStarted { generation: g } if g == generation)
//! # }
//! # actix_rt::System::new().block_on(async {
//! let (tree, events, mut rx) = observed();
//! let addrs = Addrs::default();
//! let intensity = Intensity { max_restarts: 2, period: std::time::Duration::from_secs(5) };
//! let spec = SupervisorSpec::new("sup", tree.clone(), events).intensity(intensity);
//! let _sup = Supervisor::new(spec, vec![worker("loop", &addrs)], ExitSlot::default()).start();
//! for generation in 1..=2 {
//!     until(&mut rx, |e| started(e, "loop", generation - 1)).await;
//!     addrs.lock()["loop"].do_send(Order::Panic);
//! }
//! until(&mut rx, |e| started(e, "loop", 2)).await;
//! addrs.lock()["loop"].do_send(Order::Panic);
//! until(&mut rx, |e| matches!(e.kind, SupervisionEventKind::SupervisorGaveUp { .. })).await;
//! # });
//! ```
//!
//! ## Beyond these
//!
//! - `Backoff`: the delay before each restart of a crash-looping child grows exponentially with
//!   jitter, and resets once the child has run long enough.
//! - `ShutdownPolicy`: `Timeout(d)` asks the child with `Shutdown` and drops it after `d`;
//!   `BrutalKill` drops it at once.
//! - `StartedChild::on_arbiter`: the child runs on another thread (arbiter) while its supervisor stays
//!   where it is; its end, panic included, still reaches the supervisor.
//! - `MonitorChild` / `Down`: any actor can watch one incarnation of a child and hear when it ends.
//! - `Tree`: every supervisor of the process by name, with a snapshot for status pages.
