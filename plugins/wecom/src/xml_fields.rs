//! WeCom callbacks are small flat XML documents, `<xml><Name>value</Name>…</xml>`,
//! both the outer envelope (`ToUserName`, `Encrypt`, `AgentID`) and the
//! decrypted event inside it. [`XmlFields`] reads the root's child elements
//! into a map; CDATA sections and the predefined entities are resolved,
//! document type declarations are refused (no external entities).

use quick_xml::events::Event as XmlEvent;
use quick_xml::reader::Reader;
use std::collections::BTreeMap;
use tongdao_sdk::PluginError;

/// The most fields a callback may carry (real ones have about half a dozen).
const MAX_FIELDS: usize = 64;

/// The child elements of a callback's root element, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlFields(BTreeMap<String, String>);

impl XmlFields {
    /// Read `body` (UTF-8 XML); `what` names the document in errors.
    pub fn parse(body: &[u8], what: &str) -> Result<XmlFields, PluginError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| PluginError::Malformed(format!("the {what} is not UTF-8")))?;
        let mut reader = Reader::from_str(text);
        let mut fields = BTreeMap::new();
        // Names of the open elements: [root, child, grandchild, …].
        let mut open: Vec<String> = Vec::new();
        let mut saw_root = false;
        loop {
            let event = reader
                .read_event()
                .map_err(|err| invalid(what, &reader, &err.to_string()))?;
            match event {
                XmlEvent::Start(start) => {
                    if open.is_empty() {
                        if saw_root {
                            return Err(invalid(what, &reader, "more than one root element"));
                        }
                        saw_root = true;
                    }
                    let name = start.name().as_ref().to_string();
                    if open.len() == 1 {
                        insert(&mut fields, &name, what)?;
                    }
                    open.push(name);
                }
                XmlEvent::Empty(empty) => {
                    if open.is_empty() {
                        return Err(invalid(what, &reader, "the root element is empty"));
                    }
                    if open.len() == 1 {
                        let name = empty.name().as_ref().to_string();
                        insert(&mut fields, &name, what)?;
                    }
                }
                XmlEvent::End(_) => {
                    open.pop();
                }
                XmlEvent::Text(text) if open.len() == 2 => {
                    append(&mut fields, &open[1], &text.xml10_content());
                }
                XmlEvent::CData(data) if open.len() == 2 => {
                    append(&mut fields, &open[1], &data.into_inner());
                }
                XmlEvent::GeneralRef(reference) if open.len() == 2 => {
                    let name = reference.clone().into_inner().into_owned();
                    let resolved = match name.as_str() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        _ => match reference.resolve_char_ref() {
                            Ok(Some(c)) => c,
                            _ => {
                                return Err(invalid(
                                    what,
                                    &reader,
                                    &format!("unknown entity `&{name};`"),
                                ));
                            }
                        },
                    };
                    append(&mut fields, &open[1], resolved.encode_utf8(&mut [0; 4]));
                }
                XmlEvent::DocType(_) => {
                    return Err(invalid(
                        what,
                        &reader,
                        "document type declarations are not accepted",
                    ));
                }
                XmlEvent::Eof => break,
                _ => {}
            }
        }
        if !saw_root {
            return Err(PluginError::Malformed(format!(
                "the {what} holds no XML element"
            )));
        }
        if !open.is_empty() {
            return Err(PluginError::Malformed(format!(
                "the {what} ends inside <{}>",
                open.join("><")
            )));
        }
        Ok(XmlFields(fields))
    }

    /// A field's value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A field that must be present and not blank; `what` names the document.
    pub fn require(&self, name: &str, what: &str) -> Result<&str, PluginError> {
        self.get(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| PluginError::Malformed(format!("the {what} has no `{name}`")))
    }
}

fn insert(
    fields: &mut BTreeMap<String, String>,
    name: &str,
    what: &str,
) -> Result<(), PluginError> {
    if !fields.contains_key(name) && fields.len() >= MAX_FIELDS {
        return Err(PluginError::Malformed(format!(
            "the {what} has more than {MAX_FIELDS} fields"
        )));
    }
    fields.entry(name.to_string()).or_default();
    Ok(())
}

fn append(fields: &mut BTreeMap<String, String>, name: &str, text: &str) {
    fields.entry(name.to_string()).or_default().push_str(text);
}

fn invalid(what: &str, reader: &Reader<&[u8]>, why: &str) -> PluginError {
    PluginError::Malformed(format!(
        "the {what} is not valid XML at byte {}: {why}",
        reader.buffer_position()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_kf_event_is_read() {
        let fields = XmlFields::parse(
            b"<xml>\n <ToUserName><![CDATA[ww12345678910]]></ToUserName>\n <CreateTime>1348831860</CreateTime>\n <MsgType><![CDATA[event]]></MsgType>\n <Event><![CDATA[kf_msg_or_event]]></Event>\n <Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token>\n <OpenKfId><![CDATA[wkxxxxxxx]]></OpenKfId>\n</xml>",
            "event",
        )
        .unwrap();
        assert_eq!(fields.get("ToUserName"), Some("ww12345678910"));
        assert_eq!(fields.get("CreateTime"), Some("1348831860"));
        assert_eq!(
            fields.require("Token", "event").unwrap(),
            "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"
        );
        assert_eq!(fields.get("OpenKfId"), Some("wkxxxxxxx"));
    }

    #[test]
    fn entities_and_split_cdata_are_joined() {
        let fields = XmlFields::parse(
            b"<xml><A>a &amp; b &#x4F60;</A><B><![CDATA[x]]]]><![CDATA[>y]]></B><C/></xml>",
            "event",
        )
        .unwrap();
        assert_eq!(fields.get("A"), Some("a & b 你"));
        assert_eq!(fields.get("B"), Some("x]]>y"));
        assert_eq!(fields.get("C"), Some(""));
        assert!(fields.require("C", "event").is_err());
    }

    #[test]
    fn broken_documents_are_refused_with_a_reason() {
        for (body, why) in [
            ("<xml><A>1</xml>", "not valid XML"),
            ("<xml><A>1</A>", "ends inside"),
            ("plain text", "no XML element"),
            (
                "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><A>&e;</A></xml>",
                "document type",
            ),
            ("<xml><A>&nope;</A></xml>", "unknown entity"),
            ("<a></a><b></b>", "more than one root"),
        ] {
            let err = XmlFields::parse(body.as_bytes(), "callback body").unwrap_err();
            let PluginError::Malformed(message) = err else {
                panic!("{body}: {err:?}")
            };
            assert!(message.contains(why), "{body}: {message}");
            assert!(message.contains("callback body"), "{message}");
        }
        assert!(XmlFields::parse(&[0xff, 0xfe], "body").is_err());
    }
}
