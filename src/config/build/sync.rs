//! `vrrp_sync_group`.

use super::*;

pub(super) struct SyncB {
    g: SyncGroup,
    members: Vec<Token>,
    scripts: Vec<Token>,
}

impl HasNotify for SyncB {
    fn notify(&mut self) -> &mut Notify {
        &mut self.g.notify
    }
}

pub(super) const SYNC_NOTIFY: [Kw<SyncB>; 5] = notify_kws!(SyncB);
pub(super) const SYNC: &[Kw<SyncB>] = &[
    Kw {
        name: "notify_priority_changes",
        arity: Range(0, 1),
        doc: "`notify_priority_changes [BOOL]`: default of the member instances' `notify_priority_changes`",
        set: |c, s, n| s.g.notify_priority_changes = bool_arg(c, n).or(s.g.notify_priority_changes),
    },
    Kw {
        name: "group",
        arity: Block(0, 0),
        doc: "`group { INSTANCE... }`: member instances",
        set: |_, s, n| {
            for m in block(n) {
                s.g.group.push(m.kw.text.clone());
                s.members.push(m.kw.clone());
            }
        },
    },
    Kw {
        name: "track_script",
        arity: Block(0, 0),
        doc: "`track_script { NAME [weight N] [reverse] ... }`",
        set: |c, s, n| track_scripts(c, n, &mut s.g.track_script, &mut s.scripts),
    },
    Kw {
        name: "smtp_alert",
        arity: Range(0, 1),
        doc: "`smtp_alert [yes|no]`: mail on group transitions (default: `smtp_alert_vrrp`, else `smtp_alert` of global_defs)",
        set: |c, s, n| s.g.smtp_alert = yes_no(c, n),
    },
];

pub(super) fn sync_group(c: &mut Ctx, b: &mut Builder, n: &Node) {
    let mut s = SyncB {
        g: SyncGroup {
            name: n.args[0].text.clone(),
            group: Vec::new(),
            notify: Notify::default(),
            track_script: Vec::new(),
            notify_priority_changes: None,
            smtp_alert: None,
        },
        members: Vec::new(),
        scripts: Vec::new(),
    };
    // The old form, bare instance names in the block, is unknown keywords to keepalived 2.2.7
    // (a group left empty is removed): the same here, so nothing syncs that did not before.
    apply(
        c,
        "vrrp_sync_group",
        &[SYNC, &SYNC_NOTIFY],
        &mut s,
        block(n),
    );
    if s.g.group.is_empty() {
        c.warn(
            &n.args[0],
            format!(
                "vrrp_sync_group `{}` has no instances; removed, as keepalived does",
                s.g.name
            ),
            Some("list the members in `group { INSTANCE... }`".into()),
        );
        return;
    }
    b.cfg.sync_groups.push(s.g);
    b.groups.push((s.members, s.scripts));
}
