//! What the room tells the page, paced: a flood of small updates (hundreds of file offers
//! from one peer, progress ticks, notices) becomes one render per [`RENDER_EVERY_MS`] instead
//! of one per update. Each render of a long log costs a layout of the whole list, so one per
//! update let a peer offering a folder of 256 files, or a hostile one, stall everyone's chat
//! for most of a second. What a person waits for (a message, a peer arriving, a dialog) goes
//! out at once, taking whatever is pending with it, so nothing is reordered and nothing a
//! person waits for is delayed.

use crate::js::now_ms;
use crate::state::RoomAction;
use gloo_timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::Rc;
use yew::Callback;

/// Shortest gap between two renders caused by paced updates: one display frame.
pub const RENDER_EVERY_MS: u64 = 16;

#[derive(Default)]
struct Pacer {
    pending: Vec<RoomAction>,
    last_flush_ms: Option<u64>,
    timer: Option<Timeout>,
}

/// Updates that may wait for the next paced render: they come in floods, and a person does
/// not watch for each one.
fn may_wait(a: &RoomAction) -> bool {
    matches!(
        a,
        RoomAction::FileOffered { .. }
            | RoomAction::FileStatus { .. }
            | RoomAction::FileProgress { .. }
            | RoomAction::FileUrl { .. }
            | RoomAction::Upload { .. }
            | RoomAction::Notice(_)
            | RoomAction::BadFrame
            | RoomAction::Trackers(_)
            | RoomAction::Speaking { .. }
            | RoomAction::Typing { .. }
    )
}

/// `dispatch`, paced (see the module comment).
pub fn paced(dispatch: Callback<RoomAction>) -> Callback<RoomAction> {
    let pacer = Rc::new(RefCell::new(Pacer::default()));
    Callback::from(move |a: RoomAction| push(&pacer, &dispatch, a))
}

fn push(pacer: &Rc<RefCell<Pacer>>, dispatch: &Callback<RoomAction>, a: RoomAction) {
    let now = now_ms();
    let mut p = pacer.borrow_mut();
    let urgent = !may_wait(&a);
    p.pending.push(a);
    let due = p
        .last_flush_ms
        .map_or(0, |t| t.saturating_add(RENDER_EVERY_MS));
    if urgent || (p.timer.is_none() && now >= due) {
        drop(p);
        flush(pacer, dispatch, now);
    } else if p.timer.is_none() {
        let (pacer2, dispatch2) = (pacer.clone(), dispatch.clone());
        let wait = due.saturating_sub(now).min(RENDER_EVERY_MS) as u32;
        p.timer = Some(Timeout::new(wait, move || {
            flush(&pacer2, &dispatch2, now_ms());
        }));
    }
}

/// Hands everything pending to the page as one action.
fn flush(pacer: &Rc<RefCell<Pacer>>, dispatch: &Callback<RoomAction>, now: u64) {
    let mut pending = {
        let mut p = pacer.borrow_mut();
        p.timer = None;
        p.last_flush_ms = Some(now);
        std::mem::take(&mut p.pending)
    };
    match pending.len() {
        0 => {}
        1 => dispatch.emit(pending.remove(0)),
        _ => dispatch.emit(RoomAction::Batch(pending)),
    }
}
