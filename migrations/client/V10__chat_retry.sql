-- Schema version 10: a chat message the central store refused can be sent again.
--
-- A message's delivery state (sending, sent, read, failed) is not stored: it is read from the
-- outbox, the read receipt and `rejected_changes` when messages are listed (chat.rs). A refused
-- message is shown in its chat as failed, with the reason, until its sender sends it again as a
-- new message; `retried_as` then names that message, and the refused one leaves the chat (it
-- stays listed among the refused changes).
ALTER TABLE rejected_changes ADD COLUMN retried_as TEXT;
