//! The fake's Graph mail API: folders, messages (filter, order, select, paging with absolute
//! `@odata.nextLink`), attachments, `$value`, PATCH, move and DELETE, with ids per `Prefer`.

use super::http::*;
use super::*;

pub(super) fn graph(state: &mut State, request: &Request, rest: &str) -> Response {
    let Some(token) = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.");
    };
    let Some(grant) = state.access.get(token).cloned() else {
        return graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        );
    };
    let immutable = request
        .header("prefer")
        .is_some_and(|v| v.contains("IdType=\"ImmutableId\""));
    let segments: Vec<&str> = rest.split('/').collect();
    let (owner, tail) = match segments.as_slice() {
        ["me", tail @ ..] => {
            if grant.app_only {
                return graph_error(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                );
            }
            ("me".to_string(), tail)
        }
        ["users", address, tail @ ..] => {
            let key = address.to_ascii_lowercase();
            let Some(mailbox) = state.mailboxes.get(&key) else {
                return graph_error(
                    404,
                    "ErrorInvalidUser",
                    &format!("The requested user '{address}' is invalid."),
                );
            };
            if !grant.app_only
                && (!grant.scope.contains("Mail.ReadWrite.Shared") || !mailbox.delegated_access)
            {
                return graph_error(
                    403,
                    "ErrorAccessDenied",
                    "Access is denied. Check credentials and try again.",
                );
            }
            (key, tail)
        }
        _ => return graph_error(400, "BadRequest", "Resource not found for the segment."),
    };
    let (addr, page_cap) = (state.addr, state.page_cap);
    let untyped = state.untyped_selected_attachments;
    let mailbox = state.mailboxes.get_mut(&owner).unwrap();
    let id_of = |m: &Message| {
        if immutable {
            m.immutable_id.clone()
        } else {
            m.rest_id.clone()
        }
    };
    let method = request.method.as_str();
    match (method, tail) {
        ("GET", ["mailFolders"]) => folders(mailbox, request, None),
        ("GET", ["mailFolders", parent, "childFolders"]) => {
            let Some(parent) = find_by_id_or_name(mailbox, parent) else {
                return graph_error(
                    404,
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                );
            };
            folders(mailbox, request, Some(parent.id))
        }
        ("GET", ["mailFolders", folder, "messages"]) => {
            let Some(folder) = find_by_id_or_name(mailbox, folder) else {
                return graph_error(
                    404,
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                );
            };
            list_messages(mailbox, request, &folder, immutable, addr, page_cap)
        }
        (_, ["messages", id, more @ ..]) => {
            let Some(index) = mailbox
                .messages
                .iter()
                .position(|m| m.immutable_id == *id || m.rest_id == *id)
            else {
                return graph_error(
                    404,
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                );
            };
            match (method, more) {
                ("GET", []) => {
                    let m = &mailbox.messages[index];
                    let select: Option<Vec<&str>> =
                        request.param("$select").map(|s| s.split(',').collect());
                    let mut value = message_json(m, id_of(m), select.as_deref());
                    match request.param("$expand") {
                        None => {}
                        Some("attachments") => {
                            value["attachments"] = m
                                .attachments
                                .iter()
                                .map(|a| attachment_json(a, false))
                                .collect();
                        }
                        Some(other) => {
                            return graph_error(
                                400,
                                "BadRequest",
                                &format!("Unsupported $expand {other}"),
                            )
                        }
                    }
                    Response::json(200, value)
                }
                ("GET", ["$value"]) => {
                    Response::bytes("text/plain", mailbox.messages[index].mime.clone())
                }
                ("GET", ["attachments"]) => {
                    let selected = request.param("$select").is_some();
                    let value: Vec<Value> = mailbox.messages[index]
                        .attachments
                        .iter()
                        .map(|a| {
                            let mut value = attachment_json(a, selected);
                            if selected && untyped {
                                value.as_object_mut().unwrap().remove("@odata.type");
                            }
                            value
                        })
                        .collect();
                    Response::json(
                        200,
                        json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#attachments", "value": value}),
                    )
                }
                ("GET", ["attachments", aid, "$value"]) => {
                    let Some(attachment) = mailbox.messages[index]
                        .attachments
                        .iter()
                        .find(|a| a.id == *aid)
                    else {
                        return graph_error(
                            404,
                            "ErrorItemNotFound",
                            "The specified object was not found in the store.",
                        );
                    };
                    match attachment.kind {
                        Kind::File => {
                            Response::bytes("application/octet-stream", attachment.bytes.clone())
                        }
                        Kind::Item => Response::bytes("message/rfc822", attachment.bytes.clone()),
                        Kind::Reference => graph_error(
                            405,
                            "ErrorInvalidRequest",
                            "The OData request is not supported.",
                        ),
                    }
                }
                ("PATCH", []) => {
                    let body: Value =
                        serde_json::from_slice(&request.body).expect("PATCH body is JSON");
                    if let Some(read) = body.get("isRead").and_then(Value::as_bool) {
                        mailbox.messages[index].is_read = read;
                    }
                    // A string collection: the PATCH replaces it whole.
                    if let Some(categories) = body.get("categories") {
                        let Some(names) = categories
                            .as_array()
                            .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
                        else {
                            return graph_error(
                                400,
                                "ErrorInvalidProperty",
                                "categories must be a collection of strings.",
                            );
                        };
                        mailbox.messages[index].categories =
                            names.into_iter().map(str::to_string).collect();
                    }
                    let m = &mailbox.messages[index];
                    Response::json(200, message_json(m, id_of(m), None))
                }
                ("POST", ["move"]) => {
                    let body: Value =
                        serde_json::from_slice(&request.body).expect("move body is JSON");
                    let destination = body["destinationId"].as_str().unwrap_or("").to_string();
                    let Some(folder) = find_by_id_or_name(mailbox, &destination) else {
                        return graph_error(400, "ErrorInvalidIdMalformed", "Id is malformed.");
                    };
                    move_message(&mut mailbox.messages[index], folder.id);
                    let m = &mailbox.messages[index];
                    Response::json(201, message_json(m, id_of(m), None))
                }
                ("DELETE", []) => {
                    mailbox.messages.remove(index);
                    Response::empty(204)
                }
                _ => graph_error(400, "BadRequest", "Resource not found for the segment."),
            }
        }
        _ => graph_error(400, "BadRequest", "Resource not found for the segment."),
    }
}

pub(super) fn find_by_id_or_name(mailbox: &Mailbox, spec: &str) -> Option<Folder> {
    mailbox
        .folders
        .iter()
        .find(|f| {
            f.id == spec || f.well_known.as_deref() == Some(spec.to_ascii_lowercase().as_str())
        })
        .cloned()
}

/// `displayName eq 'X'` → X.
pub(super) fn display_name_filter(filter: &str) -> Option<String> {
    let quoted = filter
        .strip_prefix("displayName eq '")?
        .strip_suffix('\'')?;
    Some(quoted.replace("''", "'"))
}

pub(super) fn folders(mailbox: &Mailbox, request: &Request, parent: Option<String>) -> Response {
    let wanted = match request.param("$filter") {
        Some(filter) => match display_name_filter(filter) {
            Some(name) => Some(name),
            None => return graph_error(400, "BadRequest", "Invalid filter clause."),
        },
        None => None,
    };
    let value: Vec<Value> = mailbox
        .folders
        .iter()
        .filter(|f| f.parent == parent)
        .filter(|f| {
            wanted
                .as_deref()
                .is_none_or(|w| f.display_name.eq_ignore_ascii_case(w))
        })
        .map(|f| {
            let children = mailbox
                .folders
                .iter()
                .filter(|c| c.parent.as_deref() == Some(&f.id))
                .count();
            let in_folder = mailbox.messages.iter().filter(|m| m.folder == f.id);
            json!({"id": f.id, "displayName": f.display_name,
                   "parentFolderId": f.parent.clone().unwrap_or_else(|| "AAMkAGroot=".into()),
                   "childFolderCount": children,
                   "unreadItemCount": in_folder.clone().filter(|m| !m.is_read).count(),
                   "totalItemCount": in_folder.count()})
        })
        .collect();
    Response::json(200, json!({"value": value}))
}

pub(super) fn list_messages(
    mailbox: &Mailbox,
    request: &Request,
    folder: &Folder,
    immutable: bool,
    addr: SocketAddr,
    page_cap: usize,
) -> Response {
    let filter = request.param("$filter").unwrap_or("");
    let orderby = request.param("$orderby");
    let clauses: Vec<&str> = if filter.is_empty() {
        Vec::new()
    } else {
        filter.split(" and ").collect()
    };
    if let Some(order) = orderby {
        let property = order.split_whitespace().next().unwrap_or("");
        if !clauses.is_empty() && !clauses[0].starts_with(&format!("{property} ")) {
            return graph_error(
                400,
                "InefficientFilter",
                "The restriction or sort order is too complex for this operation.",
            );
        }
    }
    let mut since: Option<String> = None;
    let mut read: Option<bool> = None;
    for clause in &clauses {
        let parts: Vec<&str> = clause.split_whitespace().collect();
        match parts.as_slice() {
            ["receivedDateTime", "ge", value] => since = Some(value.to_string()),
            ["isRead", "eq", value] => read = Some(*value == "true"),
            _ => {
                return graph_error(
                    400,
                    "BadRequest",
                    &format!("Invalid filter clause: {clause}"),
                )
            }
        }
    }
    let mut messages: Vec<&Message> = mailbox
        .messages
        .iter()
        .filter(|m| m.folder == folder.id)
        .filter(|m| since.as_deref().is_none_or(|s| m.received.as_str() >= s))
        .filter(|m| read.is_none_or(|r| m.is_read == r))
        .collect();
    match orderby {
        Some("receivedDateTime asc") | None => messages.sort_by(|a, b| a.received.cmp(&b.received)),
        Some("receivedDateTime desc") => messages.sort_by(|a, b| b.received.cmp(&a.received)),
        Some(other) => {
            return graph_error(400, "BadRequest", &format!("Unsupported $orderby {other}"))
        }
    }
    let top: usize = request
        .param("$top")
        .map_or(10, |t| t.parse().expect("$top is a number"));
    assert!((1..=1000).contains(&top), "$top {top} out of 1..1000");
    let skip: usize = request
        .param("$skip")
        .map_or(0, |s| s.parse().expect("$skip is a number"));
    let select: Option<Vec<&str>> = request.param("$select").map(|s| s.split(',').collect());
    // The message size is the MAPI property PR_MESSAGE_SIZE, which Graph serves as an extended
    // property on request (singlevaluelegacyextendedproperty-get.md): the id comes back in
    // Exchange's normalised spelling and the value as a string.
    let size_wanted = match request.param("$expand") {
        None => false,
        Some("singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')") => true,
        Some(other) => {
            return graph_error(400, "BadRequest", &format!("Unsupported $expand {other}"))
        }
    };
    let end = (skip + top.min(page_cap)).min(messages.len());
    let value: Vec<Value> = messages[skip.min(end)..end]
        .iter()
        .map(|m| {
            let id = if immutable {
                m.immutable_id.clone()
            } else {
                m.rest_id.clone()
            };
            let mut value = message_json(m, id, select.as_deref());
            if size_wanted {
                value["singleValueExtendedProperties"] =
                    json!([{"id": "Integer 0xe08", "value": m.size().to_string()}]);
            }
            value
        })
        .collect();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('bb87')/mailFolders('{}')/messages", folder.id),
        "value": value
    });
    if end < messages.len() {
        let mut query: Vec<String> = request
            .query
            .iter()
            .filter(|(k, _)| k != "$skip")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        query.push(format!("%24skip={end}"));
        body["@odata.nextLink"] = json!(format!(
            "http://{addr}{}?{}",
            encode_path(&request.path),
            query.join("&")
        ));
    }
    Response::json(200, body)
}

pub(super) fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|s| encode(s).replace("%40", "@"))
        .collect::<Vec<_>>()
        .join("/")
}

pub(super) fn message_json(m: &Message, id: String, select: Option<&[&str]>) -> Value {
    let person = |(name, address): &(String, String)| json!({"emailAddress": {"name": name, "address": address}});
    let full = json!({
        "@odata.etag": "W/\"CQAAABYAAADHcgC8Hl9tRZ/hc1wEUs1TAAAwR4Hg\"",
        "id": id,
        "subject": m.subject,
        "receivedDateTime": m.received,
        "sentDateTime": m.received,
        "hasAttachments": m.attachments.iter().any(|a| !a.inline),
        "internetMessageId": m.internet_message_id,
        "isRead": m.is_read,
        "isDraft": false,
        "parentFolderId": m.folder,
        "conversationId": "AAQkAGconv=",
        "bodyPreview": "body",
        "body": {"contentType": "html", "content": "<html><body>body</body></html>"},
        "from": person(&m.from),
        "sender": person(&m.from),
        "toRecipients": m.to.iter().map(person).collect::<Vec<_>>(),
        "ccRecipients": [], "bccRecipients": [], "replyTo": [],
        "flag": {"flagStatus": "notFlagged"},
        "categories": m.categories
    });
    match select {
        None => full,
        Some(fields) => {
            let mut out = serde_json::Map::new();
            for key in ["@odata.etag", "id"].iter().chain(fields.iter()) {
                if let Some(v) = full.get(*key) {
                    out.insert((*key).to_string(), v.clone());
                }
            }
            Value::Object(out)
        }
    }
}

pub(super) fn attachment_json(a: &Attachment, selected: bool) -> Value {
    let kind = match a.kind {
        Kind::File => "#microsoft.graph.fileAttachment",
        Kind::Item => "#microsoft.graph.itemAttachment",
        Kind::Reference => "#microsoft.graph.referenceAttachment",
    };
    let mut value = json!({
        "@odata.type": kind,
        "id": a.id,
        "lastModifiedDateTime": "2019-04-02T03:41:29Z",
        "name": a.name,
        "contentType": a.content_type,
        "size": a.bytes.len() + 200,
        "isInline": a.inline,
    });
    if a.kind == Kind::File {
        value["contentId"] = if a.inline {
            json!("image001.png@01D4")
        } else {
            Value::Null
        };
        value["contentLocation"] = Value::Null;
        if !selected {
            value["contentBytes"] = json!(base64(&a.bytes));
        }
    }
    value
}
