//! tongdao channel plugin for the WeChat Official Account.
