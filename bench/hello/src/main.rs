//! The floor `make bench` compares the functions with: an API Gateway HTTP API function on
//! the same runtime crates, release profile and logging set-up as the real ones, that
//! answers every event with a constant 200. Its init and cold request are what any Rust
//! function on this runtime pays; the functions' budgets are ratios to them.

use std::convert::Infallible;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|_: LambdaEvent<ApiGatewayV2httpRequest>| async {
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = 200;
        response.body = Some(Body::Text("hello".into()));
        Ok::<_, Infallible>(response)
    }))
    .await
}
