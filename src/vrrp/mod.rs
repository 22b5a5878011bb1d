//! VRRP protocol core: per-instance state machines (RFC 5798 §6 / RFC 3768 §6, plus
//! keepalived's Fault, preempt_delay, GARP bursts) and sync groups, and the receive path
//! (RFC 5798 §7.1). Pure and sans-IO: time comes in as `now`, work goes out as
//! [`Action`]s, the next deadline as `poll_timeout()`.
//!
//! # Time
//!
//! `now` is a monotonic clock reading ([`Instant`]): every call takes one, and successive
//! calls on one core must never go backwards (the shell reads `Instant::now()` once per
//! wake-up and passes that same value to every call it makes in that wake-up). Deadlines
//! returned by `poll_timeout()` are on the same clock; a call with `now` past a deadline
//! runs what was due, late but in order. Tests drive the cores in virtual time this way.
//!
//! # Driving it from the shell
//!
//! Build one [`Params`] per `vrrp_instance` (the daemon maps its config; [`Params::new`]
//! gives keepalived's defaults), wrap each in [`Instance::new`], group them with
//! [`Vrrp::new`] (sync groups name member indices). Then, on the single event loop:
//!
//! 1. **Startup**: `vrrp.start(now)`, then drain `vrrp.poll_event()` until `None`.
//! 2. **Per datagram**: hand what the raw socket delivered ([`crate::proto::vrrp::Datagram`])
//!    and the interface it came in on to [`rx::Receiver::handle_datagram`] with every
//!    unit's core. It reads the IP layer, routes by interface, VRID and unicast peer, and
//!    applies every RFC 5798 §7.1 check at the instance, counting each drop by kind; drain
//!    the events of the unit it names.
//! 3. **Per timeout**: sleep until `vrrp.poll_timeout()` (or a packet); call
//!    `vrrp.handle_timeout(now)` whenever `now >= deadline`; drain events.
//! 4. **Tracking**: `vrrp.set_tracker(now, idx, tracker_index, up)` (repeats are ignored);
//!    drain events.
//! 5. **Shutdown** (SIGTERM): `vrrp.shutdown(now)`, drain events (priority-0 adverts,
//!    VIP removal, STOP notifies), then exit.
//!
//! Events are executed in order and say everything the shell needs: [`Action::Transmit`]
//! is an encoded advert with its source and destination (the group, or one per unicast
//! peer), sent with TTL 255 (`unicast_ttl` toward unicast peers). [`Action::InstallVips`] adds or replaces the named addresses
//! with the given valid/preferred lifetime (the **VIP lease**: a crashed master's addresses
//! expire in the kernel instead of staying on the wire); refreshes are the same action,
//! done with an advert when waiting for the next one would leave less than a margin of
//! the lease (¾ interval, at least 750 ms; never with a GARP or notify), so masters that
//! advert together refresh together. [`Action::SendGarp`] asks for
//! `count` gratuitous ARPs / unsolicited NAs per named address ([`crate::proto::arp`],
//! [`crate::proto::ndisc`] build the frames). Whether VIPs are held and for how long is
//! the core's to answer ([`Instance::holds_vips`], [`Instance::vip_lease_left`]).
//!
//! # Reconfiguring in place (reload)
//!
//! [`Vrrp::reconfigure`] / [`Instance::reconfigure`] apply new [`Params`] to running
//! instances (matched by name, same order, same sync groups) and keep their state, as
//! keepalived keeps the state of instances that survive a reload, but without its VIP
//! flap:
//!
//! * A Master stays Master. If the advert changes (priority, interval, address list,
//!   auth) it is sent at once and the Adver_Timer restarts with the new interval; should
//!   the new priority lose to a known master, the normal rules act on the next advert
//!   (a preempting backup's down timer, RFC 5798 §6.4.2). VIPs are diffed (adverted and
//!   excluded alike): [`Action::RemoveVips`] for the removed ones, [`Action::InstallVips`]
//!   then [`Action::SendGarp`] for the added ones only; unchanged VIPs see no removal, no GARP
//!   and no notify. A changed lease re-adds every VIP with the new lifetime at once
//!   ([`Action::InstallVips`]) and the
//!   refresh cadence follows the new lease.
//! * A Backup stays Backup; a running Master_Down_Timer restarts from now with the new
//!   Master_Down_Interval (or Skew_Time after a priority-0 advert) for the new interval and
//!   priority (RFC 5798 §6.1 / §6.4.2). A v3 backup keeps the interval learnt from the master.
//! * A Fault stays Fault. Tracker changes re-evaluate the effective priority and faults, as
//!   a tracker event would (a cleared fault goes Backup, a new one leaves Master).
//! * Changes of VRID, version or address family, and sync group membership, cannot apply in
//!   place: the call refuses with [`Restart`] and changes nothing, and the shell restarts the
//!   unit (priority-0 advert, VIPs removed, Initialize) as before.
//!
//! # keepalived behaviours matched (and why)
//!
//! * `state MASTER` (non-owner) starts in Backup with a first Master_Down_Interval of one
//!   advert interval plus minimal skew (keepalived 2.x `vrrp_init_state`), not straight to
//!   Master: a live higher-priority master is heard first, no VIP flap at start.
//!   Priority 255 (owner) goes Master at once (RFC 5798 §6.4.1).
//! * nopreempt (`preempt = false`): a backup accepts any live master.
//! * A master seeing a lower priority advert re-asserts at once: advert + GARP burst, and a
//!   second burst `garp_lower_prio_delay` later (`lower_prio_no_advert` and
//!   `garp_lower_prio_repeat 0` turn these off); `higher_prio_send_advert` sends one last
//!   advert before yielding to a higher priority. [`Action::LowerPriorityAdvert`] tells
//!   the shell (log line, `notify_master_rx_lower_pri`).
//! * Adverts from our own primary address (looped-back multicast) are ignored.
//! * Entering Fault as Master sends a priority-0 advert (vrrp_state_leave_master) and
//!   removes the VIPs; leaving Fault goes Backup with a full Master_Down_Interval.
//! * A Master whose effective priority changes sends an advert at once.
//! * Sync groups (vrrp_sync.c): a member whose Master_Down_Timer fires waits until every
//!   member's has (vrrp_sync_can_goto_master: "prefer backup state to avoid thrashing"),
//!   then all go Master together; a member going Master on its own (address owner) drags
//!   the Backup members along; one member leaving Master for Backup drags every Master
//!   member to Backup; one member faulted holds all members in Fault until no member has a
//!   fault of its own. Group transitions are reported as [`Event::Group`].

pub mod garp;
pub mod instance;
pub mod plan;
pub mod routes;
pub mod rx;
pub mod track_file;
pub mod track_process;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::proto::vrrp::{Error, RxMeta};

pub use instance::{
    default_vip_lease, Action, Instance, ParamError, Params, Reason, Restart, State, Stats,
    Tracker, Transition, PRIORITY_OWNER, PRIORITY_STOP,
};

/// A `vrrp_sync_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupParams {
    pub name: String,
    /// Indices into the instance list given to [`Vrrp::new`].
    pub members: Vec<usize>,
}

/// What the shell must do, tagged with who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Instance index and its action.
    Instance(usize, Action),
    /// Sync group index and its group-level transition (notify for the group).
    Group(usize, Transition),
}

#[derive(Debug)]
struct Group {
    p: GroupParams,
    state: State,
}

/// All instances of the daemon and their sync groups.
#[derive(Debug)]
pub struct Vrrp {
    instances: Vec<Instance>,
    groups: Vec<Group>,
    /// Group index of each instance, if any.
    group_of: Vec<Option<usize>>,
    events: VecDeque<Event>,
}

impl Vrrp {
    pub fn new(instances: Vec<Instance>, groups: Vec<GroupParams>) -> Result<Vrrp, ParamError> {
        let mut instances = instances;
        // Only sync groups read it (see `settle`): a lone instance's unit allocates none.
        let grouped = if groups.is_empty() {
            0
        } else {
            instances.len()
        };
        let mut group_of = vec![None; grouped];
        for (g, gp) in groups.iter().enumerate() {
            for &m in &gp.members {
                match group_of.get_mut(m) {
                    Some(slot @ None) => {
                        *slot = Some(g);
                        instances[m].in_group = true;
                    }
                    _ => {
                        return Err(ParamError::SyncGroupMember {
                            group: gp.name.clone(),
                            member: m,
                        })
                    }
                }
            }
        }
        Ok(Vrrp {
            instances,
            groups: groups
                .into_iter()
                .map(|p| Group {
                    p,
                    state: State::Initialize,
                })
                .collect(),
            group_of,
            events: VecDeque::new(),
        })
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    pub fn instance(&self, idx: usize) -> &Instance {
        &self.instances[idx]
    }

    pub fn group_params(&self, g: usize) -> &GroupParams {
        &self.groups[g].p
    }

    pub fn group_state(&self, g: usize) -> State {
        self.groups[g].state
    }

    /// [`Vrrp::start`] with keepalived's `vrrp_startup_delay`: no instance becomes Master
    /// before `now + delay`; they start in Backup and listen meanwhile.
    pub fn start_delayed(&mut self, now: Instant, delay: Duration) {
        for i in &mut self.instances {
            i.hold_master_until(now + delay);
        }
        self.start(now);
    }

    pub fn start(&mut self, now: Instant) {
        // A member faulted at start holds its whole group in Fault from the beginning.
        self.update_group_faults(now);
        for i in &mut self.instances {
            i.start(now);
        }
        self.settle(now);
    }

    /// The instance an advert from `src` on `link` for `vrid` belongs to: `Ok` when it
    /// passes the unicast peer filter, `Err` with the instance that has the VRID but not
    /// this peer. `None`: no instance of this unit has the VRID on that link.
    pub fn route(&self, link: u32, vrid: u8, src: &IpAddr) -> Option<Result<usize, usize>> {
        let mut stranger = None;
        for (i, inst) in self.instances.iter().enumerate() {
            match inst.route(link, vrid, src) {
                Some(Ok(())) => return Some(Ok(i)),
                Some(Err(_)) => stranger = stranger.or(Some(i)),
                None => {}
            }
        }
        stranger.map(Err)
    }

    /// Hands a routed datagram to instance `idx` ([`Instance::handle_datagram`]).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        idx: usize,
        meta: &RxMeta,
        msg: &[u8],
    ) -> Result<(), Error> {
        let r = self.instances[idx].handle_datagram(now, meta, msg);
        self.settle(now);
        r
    }

    /// Counts a receive error against instance `idx`.
    pub fn record_rx_error(&mut self, idx: usize, e: Error) {
        self.instances[idx].record_rx_error(e);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for i in &mut self.instances {
            i.handle_timeout(now);
        }
        self.settle(now);
    }

    pub fn set_tracker(&mut self, now: Instant, idx: usize, tracker: usize, up: bool) {
        self.instances[idx].set_tracker(now, tracker, up);
        self.update_group_faults(now);
        self.settle(now);
    }

    /// A `track_file` tracker's new `(weight, up)` (see [`track_file::tracker`]).
    pub fn set_tracker_weight(&mut self, now: Instant, idx: usize, t: usize, w: i32, up: bool) {
        self.instances[idx].set_tracker_weight(now, t, w, up);
        self.update_group_faults(now);
        self.settle(now);
    }

    pub fn shutdown(&mut self, now: Instant) {
        for i in &mut self.instances {
            i.shutdown(now);
        }
        self.settle(now);
    }

    /// Reconfigures every instance in place ([`Instance::reconfigure`]), keeping states.
    /// `params` must name the same instances in the same order and `groups` must be the same
    /// sync groups; otherwise, or when any instance refuses, nothing changes and the error
    /// says why the unit must be restarted instead.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        params: Vec<Params>,
        groups: &[GroupParams],
    ) -> Result<(), Restart> {
        let same_names = params.len() == self.instances.len()
            && params
                .iter()
                .zip(&self.instances)
                .all(|(p, i)| p.name == i.params().name);
        let same_groups = groups.len() == self.groups.len()
            && groups.iter().zip(&self.groups).all(|(a, b)| *a == b.p);
        if !same_names || !same_groups {
            return Err(Restart::Members);
        }
        for (i, p) in self.instances.iter().zip(&params) {
            i.check_reconfigure(p)?;
        }
        for (i, p) in self.instances.iter_mut().zip(params) {
            i.reconfigure(now, p)?;
        }
        self.update_group_faults(now);
        self.settle(now);
        Ok(())
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.instances
            .iter()
            .filter_map(Instance::poll_timeout)
            .min()
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        // Without sync groups the actions wait in their instances (see `settle`).
        self.instances
            .iter_mut()
            .enumerate()
            .find_map(|(i, inst)| inst.poll_action().map(|a| Event::Instance(i, a)))
    }

    /// Each member is group-faulted while another member has a fault of its own.
    fn update_group_faults(&mut self, now: Instant) {
        for g in &self.groups {
            for &m in &g.p.members {
                let other_fault =
                    g.p.members
                        .iter()
                        .any(|&o| o != m && self.instances[o].own_fault());
                self.instances[m].set_group_fault(now, other_fault);
            }
        }
    }

    /// Moves instance actions to the event queue, dragging sync group members along with
    /// every Master/Backup transition until nothing changes.
    fn settle(&mut self, now: Instant) {
        if self.groups.is_empty() {
            // Nothing to drag along: `poll_event` takes the actions straight from the
            // instances, and a lone instance's unit keeps no second queue (memory).
            return;
        }
        let mut changed = Vec::new();
        loop {
            self.group_take_over(now);
            for (idx, inst) in self.instances.iter_mut().enumerate() {
                while let Some(a) = inst.poll_action() {
                    if let (Action::Notify(t), Some(g)) = (&a, self.group_of[idx]) {
                        changed.push((g, idx, t.to));
                    }
                    self.events.push_back(Event::Instance(idx, a));
                }
            }
            if changed.is_empty() {
                break;
            }
            for (g, from, to) in changed.drain(..) {
                for &m in &self.groups[g].p.members {
                    if m == from {
                        continue;
                    }
                    match to {
                        // vrrp_sync_master: the others follow to Master.
                        State::Master => self.instances[m].force_master(now),
                        // vrrp_sync_backup: Masters follow to Backup.
                        State::Backup => self.instances[m].force_backup(now),
                        // Fault is spread by update_group_faults; shutdown is global.
                        State::Fault | State::Initialize => {}
                    }
                }
                self.update_group_state(g, from);
            }
        }
    }

    /// A group goes Master once every Backup member's Master_Down_Timer has fired.
    fn group_take_over(&mut self, now: Instant) {
        for g in &self.groups {
            let members = || g.p.members.iter().map(|&m| &self.instances[m]);
            let ready = members().all(|i| i.state() == State::Master || i.wants_master());
            if ready && members().any(Instance::wants_master) {
                for &m in &g.p.members {
                    self.instances[m].take_over(now);
                }
            }
        }
    }

    fn update_group_state(&mut self, g: usize, by: usize) {
        let states = self.groups[g]
            .p
            .members
            .iter()
            .map(|&m| self.instances[m].state());
        let new = states.fold(None, |acc: Option<State>, s| {
            Some(match (acc, s) {
                (None, s) => s,
                (Some(State::Fault), _) | (_, State::Fault) => State::Fault,
                (Some(a), b) if a == b => a,
                (Some(State::Initialize), _) | (_, State::Initialize) => State::Initialize,
                _ => State::Backup,
            })
        });
        let Some(new) = new else { return };
        let group = &mut self.groups[g];
        if new != group.state {
            let reason = self.instances[by]
                .stats()
                .last_transition
                .map_or(Reason::SyncGroup, |(_, t)| t.reason);
            let t = Transition {
                from: group.state,
                to: new,
                reason,
            };
            group.state = new;
            self.events.push_back(Event::Group(g, t));
        }
    }
}

#[cfg(test)]
mod tests;
