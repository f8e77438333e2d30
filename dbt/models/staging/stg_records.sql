with source as (

    select * from {{ source('autodp', 'records') }}

),

final as (

    select
        record_id,
        source_row,
        coalesce(instruction, '') as instruction,
        coalesce("input", '') as input_text,
        coalesce("output", '') as output_text,
        metadata::json as metadata
    from source

)

select * from final
