//! Purposes, consent forms and the history, as stored.

use gdpr_consent::{ConsentAction, ConsentEvent, ConsentForm, ConsentMethod, LawfulBasis};
use gdpr_pii::{IpAddress, PseudonymisationPolicy};
use gdpr_ports::{ConsentStore, StoreError};
use gdpr_testkit::fake;

use crate::harness::{InsertOne, databases};
use crate::subjects::{at, subject, tenant};

#[tokio::test]
async fn consent_forms_keep_their_versions_immutable() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let purpose = fake::purpose("news", LawfulBasis::Consent);
        s.insert_purpose(t, &purpose).await.unwrap();
        assert!(matches!(
            s.insert_purpose(t, &purpose).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            s.get_purpose(t, &purpose.id).await.unwrap(),
            purpose,
            "{}",
            db.name
        );
        assert!(matches!(
            s.get_purpose(tenant(s).await, &purpose.id).await,
            Err(StoreError::NotFound)
        ));

        let mut form = ConsentForm::publish(t, &purpose, "News", "v1 text", at(0)).unwrap();
        s.save_consent_form(&form).await.unwrap();
        form.publish_version("v2 text", true, at(10)).unwrap();
        s.save_consent_form(&form).await.unwrap();
        assert_eq!(
            s.get_consent_form(t, form.id).await.unwrap(),
            form,
            "{}",
            db.name
        );
        assert_eq!(s.list_consent_forms(t).await.unwrap(), vec![form.clone()]);

        let mut versions = form.versions().to_vec();
        versions[0].text = "rewritten".into();
        versions[0].hash = gdpr_consent::ContentHash::of("rewritten");
        let forged = ConsentForm::from_parts(
            form.id,
            t,
            form.purpose.clone(),
            form.title.clone(),
            versions,
        )
        .unwrap();
        assert!(
            matches!(
                s.save_consent_form(&forged).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            db.name
        );
        assert_eq!(s.get_consent_form(t, form.id).await.unwrap(), form);

        // Retired once, at its first time; another tenant's id is not found.
        s.retire_consent_form(t, form.id, at(20)).await.unwrap();
        s.retire_consent_form(t, form.id, at(30)).await.unwrap();
        let retired = s.get_consent_form(t, form.id).await.unwrap();
        assert_eq!(retired.retired_at, Some(at(20)), "{}", db.name);
        assert_eq!(retired.versions(), form.versions());
        assert!(matches!(
            s.retire_consent_form(tenant(s).await, form.id, at(20))
                .await,
            Err(StoreError::NotFound)
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn the_history_comes_back_in_append_order() {
    for db in databases().await {
        let s = &db.store;
        let t = tenant(s).await;
        let purpose = fake::purpose("news", LawfulBasis::Consent);
        s.insert_purpose(t, &purpose).await.unwrap();
        let form = ConsentForm::publish(t, &purpose, "News", "v1", at(0)).unwrap();
        s.save_consent_form(&form).await.unwrap();
        let ada = subject(t, 1);
        s.insert_subject(&ada).await.unwrap();
        let source = Some(
            IpAddress::parse("203.0.113.9")
                .unwrap()
                .pseudonymise(PseudonymisationPolicy::default()),
        );
        let mut events = Vec::new();
        for (i, action) in [
            ConsentAction::Given,
            ConsentAction::Withdrawn,
            ConsentAction::Given,
        ]
        .into_iter()
        .enumerate()
        {
            // Same timestamp on purpose: order comes from the append, not the clock.
            let e = ConsentEvent::new(
                &form,
                ada.id,
                action,
                None,
                at(1),
                ConsentMethod::WebForm,
                source,
            )
            .unwrap();
            s.append_consent_event(&e).await.unwrap();
            events.push(e);
            let _ = i;
        }
        assert_eq!(
            s.consent_history(t, ada.id).await.unwrap(),
            events,
            "{}",
            db.name
        );
        // The tenant's whole history, for selections by consent: the same, in the same order,
        // and none of another tenant's.
        let bob = subject(t, 2);
        s.insert_subject(&bob).await.unwrap();
        let bobs = ConsentEvent::new(
            &form,
            bob.id,
            ConsentAction::Given,
            None,
            at(2),
            ConsentMethod::Api,
            None,
        )
        .unwrap();
        s.append_consent_event(&bobs).await.unwrap();
        let mut all = events.clone();
        all.push(bobs);
        assert_eq!(s.tenant_consent_events(t).await.unwrap(), all);
        assert!(
            s.tenant_consent_events(tenant(s).await)
                .await
                .unwrap()
                .is_empty()
        );
        let stranger = ConsentEvent::new(
            &form,
            gdpr_pii::SubjectId::at(time::OffsetDateTime::UNIX_EPOCH),
            ConsentAction::Given,
            None,
            at(1),
            ConsentMethod::Api,
            None,
        )
        .unwrap();
        assert!(matches!(
            s.append_consent_event(&stranger).await,
            Err(StoreError::NotFound)
        ));
        db.finish().await;
    }
}
