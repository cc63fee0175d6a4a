//! `/projects/{project_id}/files`: a project's files in object storage.
//!
//! - [`bulk`]: `DELETE /projects/{project_id}/files?date_from=&date_to=`,
//!   the bulk delete by date, handed to a worker as a `file.delete_by_date`
//!   action.

pub mod bulk;
