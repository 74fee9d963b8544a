//! WeChat pushes are flat documents of named fields, in XML (the default) or
//! JSON ("数据格式: JSON"). Both are read into [`Fields`]; nested elements
//! (e.g. `ScanCodeInfo`) contribute their leaves.

use quick_xml::events::Event as XmlEvent;
use quick_xml::reader::Reader;
use std::collections::BTreeMap;
use tongdao_sdk::PluginError;

/// The most fields a push may have (real pushes have about a dozen).
const MAX_FIELDS: usize = 256;

/// A push's fields by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    /// Read a body: JSON if it starts with `{`, XML otherwise.
    pub fn parse(body: &[u8]) -> Result<Fields, PluginError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| PluginError::Malformed("the body is not UTF-8".into()))?;
        if text.trim_start().starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_xml(text)
        }
    }

    /// Read an XML document `<xml><Name>value</Name>…</xml>`.
    pub fn from_xml(text: &str) -> Result<Fields, PluginError> {
        // Text is not trimmed: spaces around entities (`a &amp; b`) belong to
        // the value. Whitespace between elements only reaches container fields.
        let mut reader = Reader::from_str(text);
        let mut fields = BTreeMap::new();
        let mut path: Vec<String> = Vec::new();
        let mut saw_root = false;
        loop {
            let event = reader
                .read_event()
                .map_err(|err| malformed_xml(&reader, &err.to_string()))?;
            match event {
                XmlEvent::Start(start) => {
                    let name = start.name().as_ref().to_string();
                    if path.is_empty() {
                        if saw_root {
                            return Err(malformed_xml(&reader, "more than one root element"));
                        }
                        saw_root = true;
                    }
                    path.push(name);
                }
                XmlEvent::End(_) => {
                    path.pop();
                }
                XmlEvent::Empty(empty) => {
                    if path.is_empty() {
                        return Err(malformed_xml(&reader, "the root element is empty"));
                    }
                    let name = empty.name().as_ref().to_string();
                    fields.entry(name).or_insert_with(String::new);
                }
                XmlEvent::Text(text) => {
                    if path.len() < 2 {
                        continue;
                    }
                    append(&mut fields, &path, &text.xml10_content())?;
                }
                XmlEvent::CData(data) => {
                    if path.len() < 2 {
                        continue;
                    }
                    append(&mut fields, &path, &data.into_inner())?;
                }
                XmlEvent::GeneralRef(reference) => {
                    if path.len() < 2 {
                        continue;
                    }
                    let name = reference.clone().into_inner().into_owned();
                    let resolved = match name.as_str() {
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "amp" => "&".to_string(),
                        "apos" => "'".to_string(),
                        "quot" => "\"".to_string(),
                        _ => match reference.resolve_char_ref() {
                            Ok(Some(c)) => c.to_string(),
                            _ => {
                                return Err(malformed_xml(
                                    &reader,
                                    &format!("unknown entity `&{name};`"),
                                ));
                            }
                        },
                    };
                    append(&mut fields, &path, &resolved)?;
                }
                XmlEvent::DocType(_) => {
                    return Err(malformed_xml(
                        &reader,
                        "document type declarations are not accepted",
                    ));
                }
                XmlEvent::Eof => break,
                XmlEvent::Decl(_) | XmlEvent::Comment(_) | XmlEvent::PI(_) => {}
            }
        }
        if !saw_root {
            return Err(PluginError::Malformed(
                "the body holds no XML element".into(),
            ));
        }
        if !path.is_empty() {
            return Err(PluginError::Malformed(format!(
                "the XML ends inside <{}>",
                path.join("><")
            )));
        }
        Ok(Fields(fields))
    }

    /// Read a JSON object of fields (numbers and strings; nested objects
    /// contribute their leaves).
    pub fn from_json(text: &str) -> Result<Fields, PluginError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|err| PluginError::Malformed(format!("the JSON body is invalid: {err}")))?;
        let serde_json::Value::Object(object) = value else {
            return Err(PluginError::Malformed(
                "the JSON body is not an object".into(),
            ));
        };
        let mut fields = BTreeMap::new();
        flatten_json(&object, &mut fields);
        if fields.len() > MAX_FIELDS {
            return Err(PluginError::Malformed(format!(
                "more than {MAX_FIELDS} fields"
            )));
        }
        Ok(Fields(fields))
    }

    /// A field's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A field that must be present and non-empty.
    pub fn require(&self, name: &str) -> Result<&str, PluginError> {
        self.get(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| PluginError::Malformed(format!("the push has no `{name}`")))
    }

    /// Every field, for event details.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn append(
    fields: &mut BTreeMap<String, String>,
    path: &[String],
    value: &str,
) -> Result<(), PluginError> {
    let name = path.last().cloned().unwrap_or_default();
    if !fields.contains_key(&name) && fields.len() >= MAX_FIELDS {
        return Err(PluginError::Malformed(format!(
            "more than {MAX_FIELDS} fields"
        )));
    }
    fields.entry(name).or_default().push_str(value);
    Ok(())
}

fn flatten_json(
    object: &serde_json::Map<String, serde_json::Value>,
    fields: &mut BTreeMap<String, String>,
) {
    for (name, value) in object {
        match value {
            serde_json::Value::String(text) => {
                fields.insert(name.clone(), text.clone());
            }
            serde_json::Value::Number(number) => {
                fields.insert(name.clone(), number.to_string());
            }
            serde_json::Value::Bool(flag) => {
                fields.insert(name.clone(), flag.to_string());
            }
            serde_json::Value::Object(inner) => flatten_json(inner, fields),
            serde_json::Value::Array(_) | serde_json::Value::Null => {}
        }
    }
}

fn malformed_xml(reader: &Reader<&[u8]>, why: &str) -> PluginError {
    PluginError::Malformed(format!(
        "the XML body is invalid at byte {}: {why}",
        reader.buffer_position()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_and_plain_values_are_read() {
        let fields = Fields::from_xml(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1478317060</CreateTime><Content><![CDATA[你好 <b>]]></Content></xml>",
        )
        .unwrap();
        assert_eq!(fields.get("ToUserName"), Some("gh_1"));
        assert_eq!(fields.get("CreateTime"), Some("1478317060"));
        assert_eq!(fields.get("Content"), Some("你好 <b>"));
    }

    #[test]
    fn escaped_text_is_unescaped() {
        let fields =
            Fields::from_xml("<xml><Title>a &amp; b &lt;c&gt; &#x4F60;</Title></xml>").unwrap();
        assert_eq!(fields.get("Title"), Some("a & b <c> 你"));
    }

    #[test]
    fn nested_leaves_are_kept() {
        let fields = Fields::from_xml(
            "<xml><Event><![CDATA[scancode_push]]></Event><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo></xml>",
        )
        .unwrap();
        assert_eq!(fields.get("ScanType"), Some("qrcode"));
    }

    #[test]
    fn malformed_xml_is_refused_with_a_reason() {
        for (body, why) in [
            ("<xml><Content>hi</xml>", "invalid"),
            ("<xml><Content>hi</Content>", "ends inside"),
            ("just text", "no XML element"),
            (
                "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><A>&e;</A></xml>",
                "document type",
            ),
            ("<xml><A>&bogus;</A></xml>", "unknown entity"),
            ("<a></a><b></b>", "more than one root"),
        ] {
            let err = Fields::from_xml(body).unwrap_err();
            let PluginError::Malformed(message) = err else {
                panic!("{err:?}")
            };
            assert!(message.contains(why), "{body}: {message}");
        }
    }

    #[test]
    fn json_pushes_are_read() {
        let fields = Fields::parse(
            br#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9Ag","CreateTime":1714037059,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#,
        )
        .unwrap();
        assert_eq!(fields.get("CreateTime"), Some("1714037059"));
        assert_eq!(fields.get("debug_str"), Some("hello world"));
        assert!(Fields::parse(b"{not json").is_err());
        assert!(Fields::parse(&[0xff, 0xfe]).is_err());
    }
}
