//! A realistic demo data set: conversations in every status, customer questions, AI
//! answers with their RAG context and confidence, human hand-overs, every media type.
//! Deterministic for a given `now`, and written through the import pipeline like any
//! other source.

use indicatif::ProgressBar;
use jiff::{SignedDuration, Timestamp};
use shared::model::{Conversation, MediaType, Message, SenderType, Status};

use super::{Mapped, PlanError, ReadSummary, Source};

/// The demo data set as a source. A few hundred rows, held: the only source that is.
pub struct Demo {
    rows: Vec<(u64, Mapped)>,
}

impl Demo {
    /// The demo data for a clock at `now`.
    pub fn new(now: Timestamp) -> Demo {
        Demo { rows: demo_rows(now) }
    }

    pub fn rows(&self) -> impl Iterator<Item = &Mapped> {
        self.rows.iter().map(|(_, row)| row)
    }
}

impl Source for Demo {
    fn name(&self) -> &str {
        "seed-demo"
    }

    fn size(&self) -> u64 {
        self.rows.len() as u64
    }

    fn read(
        &self,
        bar: &ProgressBar,
        each: &mut dyn FnMut(u64, Mapped) -> Result<(), PlanError>,
    ) -> Result<ReadSummary, PlanError> {
        for (line, row) in &self.rows {
            each(*line, row.clone())?;
            bar.inc(1);
        }
        Ok(ReadSummary::default())
    }
}

const CONTACTS: [(&str, Option<&str>); 36] = [
    ("573001234567", Some("María Fernanda Gómez")),
    ("573109876543", Some("Juan Carlos Rodríguez")),
    ("5215512345678", Some("Sofía Hernández")),
    ("14155550123", Some("John Doe")),
    ("447700900123", Some("Jane Smith")),
    ("5491122334455", Some("Lucía Martínez")),
    ("34612345678", Some("Javier López")),
    ("573205551234", None),
    ("573157778899", Some("")),
    ("5511987654321", Some("João Silva")),
    ("56912345678", Some("Camila Rojas")),
    ("51987654321", Some("Diego Torres")),
    ("593987654321", Some("Valentina Castro")),
    ("50688887777", Some("Andrés Vargas")),
    ("5078765432", Some("Isabella Moreno")),
    ("18095551234", Some("Mateo Jiménez")),
    ("573001112233", Some("Daniela Ruiz 🌻")),
    ("573004445566", Some("Santiago Díaz")),
    ("13125550199", Some("Emily Johnson")),
    ("61412345678", Some("Oliver Brown")),
    ("4915112345678", Some("Lena Müller")),
    ("33612345678", Some("Chloé Dubois")),
    ("393331234567", Some("Giulia Rossi")),
    ("819012345678", Some("Haruto Sato")),
    ("573118889900", Some("Paula Andrea Ortiz")),
    ("573126667788", None),
    ("5215598765432", Some("Ricardo Flores")),
    ("573145556677", Some("Natalia Restrepo")),
    ("573167778888", Some("Felipe Cárdenas")),
    ("573178889999", Some("Mariana Salazar")),
    ("573189990000", Some("Tomás Mejía")),
    ("573190001111", Some("Gabriela Peña")),
    ("573201112222", Some("Sebastián Cruz")),
    ("573212223333", Some("Alejandra Vega")),
    ("573223334444", Some("Nicolás Herrera")),
    ("573234445555", Some("Carolina Ríos")),
];

const CUSTOMER_LINES: [&str; 12] = [
    "Hola, tengo una pregunta sobre mi pedido",
    "Mi número de pedido es #12345",
    "¿Cuándo llega mi paquete?",
    "Quiero cambiar la dirección de entrega",
    "El producto llegó dañado 😞",
    "¿Tienen esta talla en azul?",
    "Necesito hablar con una persona, por favor",
    "Gracias por su ayuda!",
    "¿Cuál es el horario de atención?",
    "No me ha llegado la factura",
    "Can I get a refund for order #9981?",
    "Perfecto, muchas gracias 🙏",
];

const AI_LINES: [(&str, &str); 8] = [
    (
        "Con gusto te ayudo con tu pedido. ¿Me compartes el número de pedido?",
        "Order tracking and support documentation",
    ),
    (
        "Tu pedido #12345 está en camino y llegará entre 2 y 3 días hábiles.",
        "Shipping policy: standard delivery 2-3 business days",
    ),
    (
        "Puedes cambiar la dirección desde 'Mis pedidos' mientras el envío no haya salido.",
        "FAQ: changing the delivery address",
    ),
    (
        "Lamento lo ocurrido. Te paso con un agente para gestionar el reemplazo.",
        "Returns policy: damaged items are replaced at no cost",
    ),
    (
        "Nuestro horario es de lunes a sábado de 8:00 a 18:00.",
        "Store hours and contact channels",
    ),
    (
        "Sí, tenemos la talla M en azul. ¿Quieres que la reserve?",
        "Inventory snapshot: size M, colour blue, 14 units",
    ),
    (
        "Refunds are processed within 5 business days after we receive the item.",
        "Refund policy (EN)",
    ),
    (
        "La factura se envía al correo registrado; la reenviaré ahora mismo.",
        "Billing FAQ: invoices are e-mailed on dispatch",
    ),
];

const HUMAN_LINES: [&str; 4] = [
    "Hola, soy Laura del equipo de soporte. Ya reviso tu caso.",
    "Listo, el reemplazo sale mañana. ¿Algo más en lo que te pueda ayudar?",
    "Te envío la guía de devolución en un momento.",
    "Caso resuelto, ¡que tengas un buen día!",
];

/// The demo conversations and messages for a clock at `now`, each with the line errors
/// would name (the row's id).
fn demo_rows(now: Timestamp) -> Vec<(u64, Mapped)> {
    let mut rng = fastrand::Rng::with_seed(20240115);
    let mut conversations = Vec::new();
    let mut messages = Vec::new();
    let mut message_id = 0u64;
    // The statuses in turn.
    let statuses = Status::ALL.into_iter().cycle();
    for ((i, (phone, name)), status) in CONTACTS.iter().enumerate().zip(statuses) {
        let id = i as u64 + 1;
        // Activity spread over the last two weeks; two pairs share a timestamp so the
        // id tie-break shows in the list.
        let minutes_ago = match i {
            4 | 5 => 300,
            10 | 11 => 2_000,
            _ => rng.i64(5..20_000),
        };
        let last_at = now - SignedDuration::from_mins(minutes_ago);
        // The first conversation is long enough to page through (limit 20).
        let count = if i == 0 { 45 } else { rng.usize(4..=20) };
        let mut at = last_at - SignedDuration::from_mins(count as i64 * 3 + 60);
        let created_at = at - SignedDuration::from_hours(rng.i64(1..72));
        for k in 0..count {
            message_id += 1;
            at = if k + 1 == count {
                last_at
            } else {
                at + SignedDuration::from_secs(rng.i64(0..180))
            };
            let sender = match (k % 4, status) {
                (0 | 2, _) => SenderType::Customer,
                (3, Status::PendingHuman | Status::Closed) if k > 4 => SenderType::Human,
                _ => SenderType::Ai,
            };
            let media_type = if sender == SenderType::Customer && k % 7 == 6 {
                // The media types other than text, in turn.
                match (k / 7 + i) % 4 {
                    0 => MediaType::Audio,
                    1 => MediaType::Image,
                    2 => MediaType::Video,
                    _ => MediaType::Document,
                }
            } else {
                MediaType::Text
            };
            let (text, context, confidence) = match sender {
                SenderType::Customer => (
                    rng.choice(CUSTOMER_LINES).unwrap_or_default().to_string(),
                    None,
                    None,
                ),
                SenderType::Ai => {
                    let (line, ctx) = rng.choice(AI_LINES).unwrap_or_default();
                    (
                        line.to_string(),
                        Some(ctx.to_string()),
                        Some(f64::from(rng.u32(55..=99)) / 100.0),
                    )
                }
                SenderType::Human => (
                    rng.choice(HUMAN_LINES).unwrap_or_default().to_string(),
                    None,
                    None,
                ),
            };
            let (text, audio_url) = match media_type {
                // Where the legacy webhook stored voice notes: a path on the dashboard's
                // own host, `/uploads/audios/<name>_<phone>/audio_<uniqid>_<time>.ogg`,
                // with the transcription as the text.
                MediaType::Audio => (
                    "Hola, quería saber si ya enviaron mi pedido".to_string(),
                    Some(format!(
                        "/uploads/audios/{}_{phone}/audio_{:013x}_{}.ogg",
                        // PHP's preg_replace('/[^a-zA-Z0-9_-]/', '_'), byte by byte.
                        name.unwrap_or("")
                            .bytes()
                            .map(|b| if b.is_ascii_alphanumeric() || b == b'-' {
                                b as char
                            } else {
                                '_'
                            })
                            .collect::<String>(),
                        0x65a5_0000_0000u64 + message_id,
                        at.as_second()
                    )),
                ),
                MediaType::Image => ("[imagen] Foto del producto".to_string(), None),
                MediaType::Video => ("[video] Unboxing".to_string(), None),
                MediaType::Document => ("[documento] factura.pdf".to_string(), None),
                MediaType::Text => (text, None),
            };
            messages.push((
                message_id,
                Mapped::Message(Message {
                    id: message_id,
                    conversation_id: id,
                    position: 0,
                    sender_type: sender,
                    message_text: text,
                    audio_url,
                    media_type,
                    context_used: context,
                    confidence_score: confidence,
                    created_at: at,
                    whatsapp_id: Some(format!("wamid.DEMO{message_id:06}")),
                }),
            ));
        }
        conversations.push((
            id,
            Mapped::Conversation(Conversation {
                id,
                phone_number: phone.to_string(),
                contact_name: name.map(str::to_string),
                status,
                ai_enabled: status != Status::PendingHuman,
                last_message_at: last_at,
                created_at,
                updated_at: last_at,
                last_message: None,
                message_count: 0,
                messages_changed: None,
                waiting: shared::model::Waiting::Unknown,
                stats: None,
            }),
        ));
    }
    // One conversation that has not received a message yet.
    conversations.push((
        37,
        Mapped::Conversation(Conversation {
            id: 37,
            phone_number: "573240000000".into(),
            contact_name: Some("Nuevo contacto".into()),
            status: Status::Active,
            ai_enabled: true,
            last_message_at: now - SignedDuration::from_mins(1),
            created_at: now - SignedDuration::from_mins(1),
            updated_at: now - SignedDuration::from_mins(1),
            last_message: None,
            message_count: 0,
            messages_changed: None,
            waiting: shared::model::Waiting::Unknown,
            stats: None,
        }),
    ));
    conversations.append(&mut messages);
    conversations
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn demo_covers_every_status_media_type_and_sender() {
        let demo = Demo::new(Timestamp::from_second(1_700_000_000).unwrap());
        let plan = crate::plan::plan(&demo, &ProgressBar::hidden()).expect("the demo data set is consistent");
        assert!(plan.conversations.len() >= 30);
        assert!(plan.message_count() >= 200, "{}", plan.message_count());
        let statuses: HashSet<_> = plan.conversations.iter().map(|c| c.status).collect();
        assert_eq!(statuses.len(), 3);
        let messages: Vec<&Message> = demo
            .rows()
            .filter_map(|row| match row {
                Mapped::Message(m) => Some(m),
                Mapped::Conversation(_) => None,
            })
            .collect();
        let media: HashSet<_> = messages.iter().map(|m| m.media_type).collect();
        assert_eq!(media.len(), MediaType::ALL.len());
        let senders: HashSet<_> = messages.iter().map(|m| m.sender_type).collect();
        assert_eq!(senders.len(), 3);
        assert!(
            messages
                .iter()
                .filter(|m| m.sender_type == SenderType::Ai)
                .all(|m| m.context_used.is_some() && m.confidence_score.is_some())
        );
    }
}
